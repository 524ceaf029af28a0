package fulgur.dist.local;

import fulgur.dist.DistException;
import fulgur.dist.HostBuffers;
import fulgur.dist.ReduceOp;
import fulgur.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicLongArray;

/** What the ranks of one local group share: the pending collectives and the message queues. */
final class GroupState {

    /** The kinds of collective, including the internal split. */
    enum Kind {
        ALL_REDUCE("allReduce"),
        ALL_GATHER("allGather"),
        REDUCE_SCATTER("reduceScatter"),
        ALL_TO_ALL("allToAll"),
        BROADCAST("broadcast"),
        BARRIER("barrier"),
        SPLIT("split");

        final String label;

        Kind(String label) {
            this.label = label;
        }
    }

    /**
     * One rank's view of a collective call: everything that must agree across ranks (an all-to-all's per-rank counts
     * must agree pairwise instead: {@code send[d]} of rank s is {@code recv[s]} of rank d).
     */
    record Desc(
            Kind kind,
            DType dtype,
            long inCount,
            long outCount,
            ReduceOp op,
            int root,
            int color,
            int key,
            long[] send,
            long[] recv) {
        Desc(Kind kind, DType dtype, long inCount, long outCount, ReduceOp op, int root, int color, int key) {
            this(kind, dtype, inCount, outCount, op, root, color, key, null, null);
        }

        String describe() {
            return switch (kind) {
                case ALL_TO_ALL ->
                    "allToAll of " + dtype + " sending " + Arrays.toString(send) + ", receiving "
                            + Arrays.toString(recv);
                case BARRIER -> "barrier";
                case SPLIT -> "split(color " + color + ", key " + key + ")";
                case BROADCAST -> "broadcast of " + dtype + "[" + inCount + "] from root " + root;
                case ALL_REDUCE -> "allReduce(" + op.label() + ") of " + dtype + "[" + inCount + "]";
                case REDUCE_SCATTER ->
                    "reduceScatter(" + op.label() + ") of " + dtype + "[" + inCount + "] into [" + outCount + "]";
                case ALL_GATHER -> "allGather of " + dtype + "[" + inCount + "] into [" + outCount + "]";
            };
        }

        /** Whether two ranks' calls match (split colors and keys may differ). */
        boolean matches(Desc o) {
            if (kind != o.kind) {
                return false;
            }
            if (kind == Kind.ALL_TO_ALL) {
                return dtype == o.dtype && send.length == o.send.length;
            }
            return kind == Kind.SPLIT
                    || (dtype == o.dtype
                            && inCount == o.inCount
                            && outCount == o.outCount
                            && op == o.op
                            && root == o.root);
        }
    }

    /** One collective call, shared by the ranks that take part. */
    final class Slot {
        final long seq;
        final Desc[] descs;
        final MemorySegment[] in;
        final MemorySegment[] out;
        final CountDownLatch done = new CountDownLatch(1);
        int arrived;
        volatile DistException error;
        volatile long readyAt;

        Slot(long seq) {
            this.seq = seq;
            this.descs = new Desc[members.length];
            this.in = new MemorySegment[members.length];
            this.out = new MemorySegment[members.length];
        }

        String label(Desc d) {
            return "local " + d.kind.label + " #" + seq + " on group '" + name + "'";
        }

        /** World ranks that have not arrived yet. */
        synchronized int[] missing() {
            List<Integer> m = new ArrayList<>();
            for (int i = 0; i < descs.length; i++) {
                if (descs[i] == null) {
                    m.add(members[i]);
                }
            }
            return m.stream().mapToInt(Integer::intValue).toArray();
        }

        void arrive(int groupRank, Desc d, MemorySegment input, MemorySegment output) {
            boolean last;
            synchronized (this) {
                if (descs[groupRank] != null) {
                    throw new IllegalStateException("rank " + groupRank + " arrived twice at collective #" + seq);
                }
                descs[groupRank] = d;
                in[groupRank] = input;
                out[groupRank] = output;
                arrived++;
                last = arrived == descs.length;
                if (error == null) {
                    for (int i = 0; i < descs.length; i++) {
                        if (descs[i] != null && !descs[i].matches(d)) {
                            error = new DistException(label(descs[i]) + ": the ranks disagree: rank " + i + " called "
                                    + descs[i].describe() + " but rank " + groupRank + " called " + d.describe()
                                    + " (every rank must make the same collective calls in the same order)");
                            done.countDown();
                            break;
                        }
                    }
                }
                if (last && error == null && d.kind == Kind.ALL_TO_ALL) {
                    checkPairs();
                }
            }
            if (last && error == null) {
                world.execute(() -> {
                    try {
                        run(this);
                    } catch (Throwable t) {
                        error = new DistException(label(descs[0]) + " failed: " + t.getMessage(), t);
                    } finally {
                        slots.remove(seq);
                        readyAt = world.link().occupy(linkFreeAt, members.length == 1 ? 0 : wireBytes(this));
                        done.countDown();
                    }
                });
            }
        }

        /** An all-to-all whose ranks disagree on what goes between two of them fails, naming both. */
        private void checkPairs() {
            for (int s = 0; s < descs.length && error == null; s++) {
                for (int d = 0; d < descs.length; d++) {
                    if (descs[s].send[d] != descs[d].recv[s]) {
                        error = new DistException(
                                label(descs[s]) + ": rank " + s + " sends " + descs[s].send[d] + " elements to rank "
                                        + d + ", but rank " + d + " expects " + descs[d].recv[s] + " from rank " + s);
                        done.countDown();
                        break;
                    }
                }
            }
        }
    }

    /** The bytes one rank puts on the wire for a complete collective (see {@link Link}). */
    private static long wireBytes(Slot s) {
        Desc d = s.descs[0];
        int n = s.descs.length;
        long es = d.dtype == null ? 0 : d.dtype.byteSize();
        return switch (d.kind) {
            case BARRIER, SPLIT -> 0;
            case BROADCAST -> d.inCount * es;
            case ALL_REDUCE -> Link.allReduceBytes(d.inCount * es, n);
            case ALL_GATHER -> Link.ringBytes(d.outCount * es, n);
            case REDUCE_SCATTER -> Link.ringBytes(d.inCount * es, n);
            case ALL_TO_ALL -> {
                long most = 0;
                for (int r = 0; r < n; r++) {
                    long sent = 0;
                    for (int p = 0; p < n; p++) {
                        sent += p == r ? 0 : s.descs[r].send[p];
                    }
                    most = Math.max(most, sent);
                }
                yield most * es;
            }
        };
    }

    /** A point-to-point message. */
    record Message(DType dtype, long count, byte[] data, long readyAt) {}

    final LocalWorld world;
    final String id;
    final String name;
    /** World rank of each group rank. */
    final int[] members;

    private final AtomicLongArray nextSeq;
    private final ConcurrentHashMap<Long, Slot> slots = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<Long, LinkedBlockingQueue<Message>> mailboxes = new ConcurrentHashMap<>();
    /** When the simulated link of this group's collectives, and of each pair's messages, is free again. */
    private final long[] linkFreeAt = new long[1];

    private final ConcurrentHashMap<Long, long[]> pairFreeAt = new ConcurrentHashMap<>();

    GroupState(LocalWorld world, String id, String name, int[] members) {
        this.world = world;
        this.id = id;
        this.name = name;
        this.members = members.clone();
        this.nextSeq = new AtomicLongArray(members.length);
    }

    int size() {
        return members.length;
    }

    /** The slot of this rank's next collective. */
    Slot nextSlot(int groupRank) {
        long seq = nextSeq.getAndIncrement(groupRank);
        return slots.computeIfAbsent(seq, Slot::new);
    }

    LinkedBlockingQueue<Message> mailbox(int src, int dst) {
        return mailboxes.computeIfAbsent((long) src * members.length + dst, k -> new LinkedBlockingQueue<>());
    }

    /** When a message of {@code bytes} sent now from {@code src} to {@code dst} is readable. */
    long messageReadyAt(int src, int dst, long bytes) {
        long[] freeAt = pairFreeAt.computeIfAbsent((long) src * members.length + dst, k -> new long[1]);
        return world.link().occupy(freeAt, src == dst ? 0 : bytes);
    }

    /** Moves the data of a complete collective (on the communication thread). */
    private static void run(Slot s) {
        Desc d = s.descs[0];
        int n = s.descs.length;
        switch (d.kind) {
            case BARRIER, SPLIT -> {}
            case BROADCAST -> {
                for (int r = 0; r < n; r++) {
                    if (r != d.root) {
                        MemorySegment.copy(s.in[d.root], 0, s.in[r], 0, s.in[r].byteSize());
                    }
                }
            }
            case ALL_GATHER -> {
                long bytes = s.in[0].byteSize();
                for (int dst = 0; dst < n; dst++) {
                    for (int src = 0; src < n; src++) {
                        MemorySegment.copy(s.in[src], 0, s.out[dst], src * bytes, bytes);
                    }
                }
            }
            case ALL_REDUCE -> {
                MemorySegment result = java.lang.foreign.Arena.ofAuto().allocate(s.in[0].byteSize(), 16);
                HostBuffers.reduce(d.dtype, d.op, s.in, 0, result, d.inCount);
                for (int r = 0; r < n; r++) {
                    MemorySegment.copy(result, 0, s.in[r], 0, result.byteSize());
                }
            }
            case REDUCE_SCATTER -> {
                for (int r = 0; r < n; r++) {
                    HostBuffers.reduce(d.dtype, d.op, s.in, r * d.outCount, s.out[r], d.outCount);
                }
            }
            case ALL_TO_ALL -> {
                long es = d.dtype.byteSize();
                for (int src = 0; src < n; src++) {
                    long from = 0;
                    for (int dst = 0; dst < n; dst++) {
                        long to = 0;
                        for (int p = 0; p < src; p++) {
                            to += s.descs[dst].recv[p];
                        }
                        long count = s.descs[src].send[dst];
                        MemorySegment.copy(s.in[src], from * es, s.out[dst], to * es, count * es);
                        from += count;
                    }
                }
            }
            default -> throw new IllegalStateException("unknown collective " + d.kind);
        }
    }

    @Override
    public String toString() {
        return name + Arrays.toString(members);
    }
}
