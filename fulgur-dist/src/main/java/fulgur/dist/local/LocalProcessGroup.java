package fulgur.dist.local;

import fulgur.dist.CommOp;
import fulgur.dist.CommStats;
import fulgur.dist.DistException;
import fulgur.dist.DistTimeoutException;
import fulgur.dist.HostBuffers;
import fulgur.dist.ProcessGroup;
import fulgur.dist.RankFailedException;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** One rank's handle on a group of the {@link LocalWorld}. Use it from that rank's thread. */
final class LocalProcessGroup implements ProcessGroup {
    private final GroupState state;
    private final int rank;
    private final CommStats stats = new CommStats();
    private boolean closed;

    LocalProcessGroup(GroupState state, int rank) {
        this.state = state;
        this.rank = rank;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return state.size();
    }

    @Override
    public String name() {
        return state.name;
    }

    @Override
    public String backend() {
        return "local";
    }

    @Override
    public Duration timeout() {
        return state.world.timeout();
    }

    @Override
    public CommStats stats() {
        return stats;
    }

    private int worldRank() {
        return state.members[rank];
    }

    private String where() {
        return " (rank " + rank + " of " + size() + ")";
    }

    private void checkOpen(String op) {
        if (closed) {
            throw new DistException(op + " on closed group '" + name() + "'");
        }
        state.world.checkFailure(worldRank(), "local " + op + " on group '" + name() + "'" + where());
    }

    // ------------------------------------------------------------------------------------------- collectives

    private Work collective(GroupState.Desc d, MemorySegment in, MemorySegment out) {
        GroupState.Slot slot = state.nextSlot(rank);
        slot.arrive(rank, d, in, out);
        String what = slot.label(d) + where();
        return new Work() {
            @Override
            public void await() {
                if (slot.done.getCount() > 0) {
                    state.world.await(slot.done, worldRank(), what, slot::missing);
                }
                DistException e = slot.error;
                if (e != null) {
                    throw new DistException(e.getMessage() + where(), e.getCause());
                }
                LocalWorld.sleepUntil(slot.readyAt);
            }

            @Override
            public boolean isCompleted() {
                return slot.done.getCount() == 0 && System.nanoTime() - slot.readyAt >= 0;
            }
        };
    }

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        String name = "allReduce";
        checkOpen(name);
        if (tensor.device().kind() != fulgur.tensor.Device.Kind.CPU) {
            // device memory (e.g. gradient buckets of a GPU model): reduce a host copy, copy the result back on await
            Tensor host = tensor.to(fulgur.tensor.Device.CPU).contiguous();
            return copyBackOnAwait(allReduce(host, op), host, tensor);
        }
        HostBuffers.checkReducible(name, tensor.dtype());
        MemorySegment seg = HostBuffers.segment(name, tensor);
        stats.record(CommOp.ALL_REDUCE, tensor.numel(), seg.byteSize());
        return collective(
                new GroupState.Desc(
                        GroupState.Kind.ALL_REDUCE, tensor.dtype(), tensor.numel(), tensor.numel(), op, -1, 0, 0),
                seg,
                seg);
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        String name = "allGather";
        checkOpen(name);
        checkSameDtype(name, input, output);
        if (output.numel() != input.numel() * size()) {
            throw new DistException(name + " on group '" + name() + "'" + where() + ": output " + output.describe()
                    + " must hold " + size() + " × " + input.numel() + " = " + input.numel() * size()
                    + " elements for input " + input.describe());
        }
        if (onDevice(input, output)) {
            Tensor hostOut = Tensor.empty(output.dtype(), output.shape());
            return copyBackOnAwait(
                    allGather(input.to(fulgur.tensor.Device.CPU).contiguous(), hostOut), hostOut, output);
        }
        MemorySegment in = HostBuffers.segment(name, input);
        MemorySegment out = HostBuffers.segment(name, output);
        stats.record(CommOp.ALL_GATHER, input.numel(), in.byteSize());
        return collective(
                new GroupState.Desc(
                        GroupState.Kind.ALL_GATHER, input.dtype(), input.numel(), output.numel(), null, -1, 0, 0),
                in,
                out);
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        String name = "reduceScatter";
        checkOpen(name);
        checkSameDtype(name, input, output);
        HostBuffers.checkReducible(name, input.dtype());
        if (input.numel() != output.numel() * size()) {
            throw new DistException(name + " on group '" + name() + "'" + where() + ": input " + input.describe()
                    + " must hold " + size() + " × " + output.numel() + " = " + output.numel() * size()
                    + " elements for output " + output.describe());
        }
        if (onDevice(input, output)) {
            Tensor hostOut = Tensor.empty(output.dtype(), output.shape());
            return copyBackOnAwait(
                    reduceScatter(input.to(fulgur.tensor.Device.CPU).contiguous(), hostOut, op), hostOut, output);
        }
        MemorySegment in = HostBuffers.segment(name, input);
        MemorySegment out = HostBuffers.segment(name, output);
        stats.record(CommOp.REDUCE_SCATTER, input.numel(), in.byteSize());
        return collective(
                new GroupState.Desc(
                        GroupState.Kind.REDUCE_SCATTER, input.dtype(), input.numel(), output.numel(), op, -1, 0, 0),
                in,
                out);
    }

    @Override
    public Work allToAll(Tensor input, long[] sendCounts, Tensor output, long[] recvCounts) {
        String name = "allToAll";
        checkOpen(name);
        checkAllToAll(input, sendCounts, output, recvCounts);
        if (onDevice(input, output)) {
            // device memory: exchange host copies, the received data copied back on await
            Tensor hostIn = input.to(fulgur.tensor.Device.CPU).contiguous();
            Tensor hostOut = Tensor.empty(output.dtype(), output.shape());
            Work w = allToAll(hostIn, sendCounts, hostOut, recvCounts);
            return copyBackOnAwait(w, hostOut, output);
        }
        MemorySegment in = HostBuffers.segment(name, input);
        MemorySegment out = HostBuffers.segment(name, output);
        stats.record(CommOp.ALL_TO_ALL, input.numel(), in.byteSize());
        return collective(
                new GroupState.Desc(
                        GroupState.Kind.ALL_TO_ALL,
                        input.dtype(),
                        input.numel(),
                        output.numel(),
                        null,
                        -1,
                        0,
                        0,
                        sendCounts.clone(),
                        recvCounts.clone()),
                in,
                out);
    }

    /** Whether either tensor lives in device memory (then the exchange goes through host copies). */
    private static boolean onDevice(Tensor a, Tensor b) {
        return a.device().kind() != fulgur.tensor.Device.Kind.CPU || b.device().kind() != fulgur.tensor.Device.Kind.CPU;
    }

    /** A work that, once {@code w} is done, copies {@code host} into {@code target} (device memory), once. */
    private static Work copyBackOnAwait(Work w, Tensor host, Tensor target) {
        return new Work() {
            private boolean copied;

            @Override
            public void await() {
                w.await();
                if (!copied) {
                    target.copyFrom(host);
                    copied = true;
                }
            }

            @Override
            public boolean isCompleted() {
                return w.isCompleted();
            }
        };
    }

    @Override
    public Work broadcast(Tensor tensor, int root) {
        String name = "broadcast";
        checkOpen(name);
        checkRank(name, "root", root);
        MemorySegment seg = HostBuffers.segment(name, tensor);
        stats.record(CommOp.BROADCAST, tensor.numel(), seg.byteSize());
        return collective(
                new GroupState.Desc(
                        GroupState.Kind.BROADCAST, tensor.dtype(), tensor.numel(), tensor.numel(), null, root, 0, 0),
                seg,
                seg);
    }

    @Override
    public Work barrier() {
        checkOpen("barrier");
        stats.record(CommOp.BARRIER, 0, 0);
        return collective(new GroupState.Desc(GroupState.Kind.BARRIER, null, 0, 0, null, -1, 0, 0), null, null);
    }

    @Override
    public ProcessGroup split(int color, int key) {
        checkOpen("split");
        if (color < 0) {
            throw new DistException("split on group '" + name() + "'" + where() + ": color must be >= 0, got " + color);
        }
        GroupState.Slot slot = state.nextSlot(rank);
        GroupState.Desc mine = new GroupState.Desc(GroupState.Kind.SPLIT, null, 0, 0, null, -1, color, key);
        slot.arrive(rank, mine, null, null);
        String what = slot.label(mine) + where();
        if (slot.done.getCount() > 0) {
            state.world.await(slot.done, worldRank(), what, slot::missing);
        }
        if (slot.error != null) {
            throw new DistException(slot.error.getMessage() + where(), slot.error);
        }
        List<Integer> same = new ArrayList<>();
        for (int r = 0; r < size(); r++) {
            if (slot.descs[r].color() == color) {
                same.add(r);
            }
        }
        same.sort(Comparator.<Integer>comparingInt(r -> slot.descs[r].key()).thenComparingInt(r -> r));
        int[] worldMembers = same.stream().mapToInt(r -> state.members[r]).toArray();
        int newRank = same.indexOf(rank);
        String id = state.id + "/" + slot.seq + ":" + color;
        String name = state.name + "/" + color + Arrays.toString(worldMembers).replace(" ", "");
        return new LocalProcessGroup(state.world.groupState(id, name, worldMembers), newRank);
    }

    // ------------------------------------------------------------------------------------------ point to point

    @Override
    public Work send(Tensor tensor, int dst) {
        String op = "send";
        checkOpen(op);
        checkRank(op, "destination", dst);
        MemorySegment seg = HostBuffers.segment(op, tensor);
        stats.record(CommOp.SEND, tensor.numel(), seg.byteSize());
        state.mailbox(rank, dst)
                .add(new GroupState.Message(
                        tensor.dtype(),
                        tensor.numel(),
                        seg.toArray(ValueLayout.JAVA_BYTE),
                        state.messageReadyAt(rank, dst, seg.byteSize())));
        return Work.completed();
    }

    @Override
    public Work recv(Tensor tensor, int src) {
        String op = "recv";
        checkOpen(op);
        checkRank(op, "source", src);
        MemorySegment seg = HostBuffers.segment(op, tensor);
        stats.record(CommOp.RECV, tensor.numel(), seg.byteSize());
        LinkedBlockingQueue<GroupState.Message> box = state.mailbox(src, rank);
        String what = "local recv from rank " + src + " on group '" + name() + "'" + where();
        DType dtype = tensor.dtype();
        long count = tensor.numel();
        return new Work() {
            private boolean done;

            @Override
            public void await() {
                if (done) {
                    return;
                }
                GroupState.Message m = take(box, what, src);
                if (m.dtype() != dtype || m.count() != count) {
                    throw new DistException(
                            what + ": the message holds " + m.dtype() + "[" + m.count() + "] but the receive buffer is "
                                    + dtype + "[" + count + "] (send and recv must agree in dtype and size)");
                }
                LocalWorld.sleepUntil(m.readyAt());
                MemorySegment.copy(MemorySegment.ofArray(m.data()), 0, seg, 0, seg.byteSize());
                done = true;
            }

            @Override
            public boolean isCompleted() {
                return done || !box.isEmpty();
            }
        };
    }

    private GroupState.Message take(LinkedBlockingQueue<GroupState.Message> box, String what, int src) {
        long deadline = System.nanoTime() + timeout().toNanos();
        int srcWorld = state.members[src];
        while (true) {
            try {
                GroupState.Message m = box.poll(50, TimeUnit.MILLISECONDS);
                if (m != null) {
                    return m;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DistException(what + ": interrupted", e);
            }
            state.world.checkFailure(worldRank(), what);
            if (state.world.hasExited(srcWorld) && box.isEmpty()) {
                throw new RankFailedException(srcWorld, what + ": rank " + src + " finished without sending", null);
            }
            if (System.nanoTime() - deadline >= 0) {
                throw new DistTimeoutException(what + ": no message within " + LocalWorld.format(timeout()));
            }
        }
    }

    private void checkSameDtype(String op, Tensor a, Tensor b) {
        if (a.dtype() != b.dtype()) {
            throw new DistException(op + " on group '" + name() + "'" + where() + ": input " + a.describe()
                    + " and output " + b.describe() + " differ in dtype");
        }
    }

    @Override
    public void close() {
        closed = true;
    }

    @Override
    public String toString() {
        return "LocalProcessGroup[" + name() + ", rank " + rank + " of " + size() + "]";
    }
}
