package fulgur.dist.nccl;

import fulgur.backend.Backends;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.DeviceStream;
import fulgur.dist.CommOp;
import fulgur.dist.CommStats;
import fulgur.dist.DistException;
import fulgur.dist.DistTimeoutException;
import fulgur.dist.HostBuffers;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.dist.store.TcpStore;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * The {@code nccl} backend: one NCCL communicator per group, its collectives enqueued on a communication stream of
 * its own, so they overlap the compute streams. Device buffers stay on the device: the methods taking a device address
 * work on raw device memory, and tensors of a CUDA device are passed to NCCL in place, after the communication
 * stream has waited for the compute stream (the backend's, or {@link #setComputeStream}). CPU tensors are staged
 * through device buffers (copied in, reduced, copied back), which lets CPU training use NCCL too. The CUDA device is
 * reached through its {@link DeviceRuntime} (fulgur-cuda at run time), so this module compiles against fulgur-core.
 *
 * <p>The NCCL unique id goes from rank 0 to the others through the rendezvous {@link TcpStore}, after every rank
 * has joined (so ncclCommInitRank never waits for a rank that is not coming). A wait that exceeds the timeout, or an
 * asynchronous NCCL error, aborts the communicator (ncclCommAbort) and throws, rather than hanging.
 */
public final class NcclProcessGroup implements ProcessGroup {
    private static final long POLL_NANOS = TimeUnit.MICROSECONDS.toNanos(20);

    private final Nccl nccl;
    private final DeviceRuntime runtime;
    private final MemorySegment comm;
    private final DeviceStream stream;
    private final int rank;
    private final int size;
    private final String name;
    private final Duration timeout;
    private final CommStats stats = new CommStats();
    private DeviceStream computeStream;
    private long seq;
    private volatile boolean broken;
    private boolean closed;

    private NcclProcessGroup(
            Nccl nccl, DeviceRuntime runtime, MemorySegment comm, int rank, int size, String name, Duration timeout) {
        this.nccl = nccl;
        this.runtime = runtime;
        this.comm = comm;
        this.rank = rank;
        this.size = size;
        this.name = name;
        this.timeout = timeout;
        this.stream = runtime.newStream();
        this.computeStream = runtime.computeStream();
    }

    /**
     * The world group: rank 0 creates the NCCL unique id and publishes it in {@code store}, the others fetch it
     * (waiting up to {@code timeout}); then every rank joins the communicator on CUDA device {@code device}.
     */
    public static NcclProcessGroup create(TcpStore store, int rank, int size, int device, Duration timeout) {
        Nccl nccl = Nccl.get();
        DeviceRuntime runtime = Backends.runtime(Device.cuda(device));
        runtime.makeCurrent();
        String key = "nccl/world/unique-id";
        byte[] id;
        if (rank == 0) {
            id = nccl.uniqueId();
            store.set(key, id);
        } else {
            id = store.get(key, timeout);
        }
        MemorySegment comm = nccl.commInitRank(size, id, rank);
        return new NcclProcessGroup(nccl, runtime, comm, rank, size, "world", timeout);
    }

    /** Work on tensors produced on {@code s} is enqueued after it (default: the device backend's stream). */
    public void setComputeStream(DeviceStream s) {
        this.computeStream = s;
    }

    /** The communication stream. */
    public DeviceStream stream() {
        return stream;
    }

    /** The runtime of this group's device. */
    public DeviceRuntime runtime() {
        return runtime;
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public String name() {
        return name;
    }

    @Override
    public String backend() {
        return "nccl";
    }

    @Override
    public Duration timeout() {
        return timeout;
    }

    @Override
    public CommStats stats() {
        return stats;
    }

    private String label(String op) {
        return "nccl " + op + " #" + seq + " on group '" + name + "' (rank " + rank + " of " + size + ")";
    }

    private void begin(String op) {
        if (closed) {
            throw new DistException(op + " on closed group '" + name + "'");
        }
        if (broken) {
            throw new DistException(label(op) + ": the communicator was aborted after an earlier failure");
        }
        runtime.makeCurrent();
        seq++;
        if (computeStream != stream) {
            stream.waitFor(computeStream);
        }
    }

    /** Records completion of what is enqueued so far; {@code after} runs once it has finished. */
    private Work finish(String what, List<AutoCloseable> release) {
        DeviceStream.Event done = stream.record();
        for (AutoCloseable c : release) {
            try {
                c.close(); // device buffers: released stream-ordered, safe while the work is still queued
            } catch (Exception e) {
                throw new DistException(what + ": " + e.getMessage(), e);
            }
        }
        return new Work() {
            private boolean finished;

            @Override
            public void await() {
                if (finished) {
                    return;
                }
                runtime.makeCurrent();
                long deadline = System.nanoTime() + timeout.toNanos();
                long nextErrorCheck = System.nanoTime();
                while (!done.isDone()) {
                    long now = System.nanoTime();
                    if (now - nextErrorCheck >= 0) {
                        int err = nccl.asyncError(comm);
                        if (err != Nccl.SUCCESS && err != Nccl.IN_PROGRESS) {
                            abort();
                            throw new NcclException(
                                    what + " (asynchronous error; communicator aborted)",
                                    err,
                                    "see NCCL_DEBUG=WARN output");
                        }
                        nextErrorCheck = now + TimeUnit.MILLISECONDS.toNanos(100);
                    }
                    if (now - deadline >= 0) {
                        abort();
                        throw new DistTimeoutException(what + ": not finished after " + timeout.toSeconds()
                                + " s; a rank is missing or hung, so the communicator was aborted");
                    }
                    LockSupport.parkNanos(POLL_NANOS);
                }
                done.close();
                finished = true;
            }

            @Override
            public boolean isCompleted() {
                return finished || done.isDone();
            }
        };
    }

    private void abort() {
        if (!broken) {
            broken = true;
            try {
                nccl.commAbort(comm);
            } catch (RuntimeException ignored) {
                // already failing
            }
        }
    }

    // ---------------------------------------------------------------------------------------- device buffers

    public Work allReduce(long buf, long count, DType dtype, ReduceOp op) {
        begin("allReduce");
        stats.record(CommOp.ALL_REDUCE, count, count * dtype.byteSize());
        nccl.allReduce(buf, buf, count, Nccl.dataType(dtype), Nccl.redOp(op), comm, stream.handle());
        return finish(label("allReduce"), List.of());
    }

    /** {@code out} (size·count elements) receives every rank's {@code in} (count elements), rank-major. */
    public Work allGather(long in, long out, long count, DType dtype) {
        begin("allGather");
        stats.record(CommOp.ALL_GATHER, count, count * dtype.byteSize());
        nccl.allGather(in, out, count, Nccl.dataType(dtype), comm, stream.handle());
        return finish(label("allGather"), List.of());
    }

    /** {@code out} (count elements) receives the reduction of slice {@code rank} of every rank's {@code in}. */
    public Work reduceScatter(long in, long out, long count, DType dtype, ReduceOp op) {
        begin("reduceScatter");
        stats.record(CommOp.REDUCE_SCATTER, count * size, count * size * dtype.byteSize());
        nccl.reduceScatter(in, out, count, Nccl.dataType(dtype), Nccl.redOp(op), comm, stream.handle());
        return finish(label("reduceScatter"), List.of());
    }

    public Work broadcast(long buf, long count, DType dtype, int root) {
        begin("broadcast");
        checkRank("broadcast", "root", root);
        stats.record(CommOp.BROADCAST, count, count * dtype.byteSize());
        nccl.broadcast(buf, buf, count, Nccl.dataType(dtype), root, comm, stream.handle());
        return finish(label("broadcast"), List.of());
    }

    public Work send(long buf, long count, DType dtype, int dst) {
        begin("send");
        checkRank("send", "destination", dst);
        stats.record(CommOp.SEND, count, count * dtype.byteSize());
        nccl.groupStart();
        nccl.send(buf, count, Nccl.dataType(dtype), dst, comm, stream.handle());
        nccl.groupEnd();
        return finish(label("send to " + dst), List.of());
    }

    public Work recv(long buf, long count, DType dtype, int src) {
        begin("recv");
        checkRank("recv", "source", src);
        stats.record(CommOp.RECV, count, count * dtype.byteSize());
        nccl.groupStart();
        nccl.recv(buf, count, Nccl.dataType(dtype), src, comm, stream.handle());
        nccl.groupEnd();
        return finish(label("recv from " + src), List.of());
    }

    /**
     * All-to-all with per-rank counts on device memory: one NCCL group of a send and a receive per peer (itself
     * included), skipping empty ones; {@code sendCounts}/{@code recvCounts} in elements, laid out rank-major.
     */
    public Work allToAll(long in, long[] sendCounts, long out, long[] recvCounts, DType dtype) {
        begin("allToAll");
        long sent = 0;
        for (long c : sendCounts) {
            sent += c;
        }
        stats.record(CommOp.ALL_TO_ALL, sent, sent * dtype.byteSize());
        exchange(in, sendCounts, out, recvCounts, dtype);
        return finish(label("allToAll"), List.of());
    }

    private void exchange(long in, long[] sendCounts, long out, long[] recvCounts, DType dtype) {
        long es = dtype.byteSize();
        int type = Nccl.dataType(dtype);
        nccl.groupStart();
        long so = 0, ro = 0;
        for (int p = 0; p < size; p++) {
            if (sendCounts[p] > 0) {
                nccl.send(in + so * es, sendCounts[p], type, p, comm, stream.handle());
            }
            if (recvCounts[p] > 0) {
                nccl.recv(out + ro * es, recvCounts[p], type, p, comm, stream.handle());
            }
            so += sendCounts[p];
            ro += recvCounts[p];
        }
        nccl.groupEnd();
    }

    /** A send to {@code dst} and a receive from {@code src} in one NCCL group (a ring step; also to oneself). */
    public Work sendRecv(long sendBuf, int dst, long recvBuf, int src, long count, DType dtype) {
        begin("sendRecv");
        stats.record(CommOp.SEND, count, count * dtype.byteSize());
        stats.record(CommOp.RECV, count, count * dtype.byteSize());
        nccl.groupStart();
        nccl.send(sendBuf, count, Nccl.dataType(dtype), dst, comm, stream.handle());
        nccl.recv(recvBuf, count, Nccl.dataType(dtype), src, comm, stream.handle());
        nccl.groupEnd();
        return finish(label("sendRecv"), List.of());
    }

    // --------------------------------------------------------------------------------------------- tensors

    /** A tensor's device memory, or a staging buffer holding its host data. */
    private record Buf(long ptr, MemorySegment host, DeviceStream.Memory staging) {}

    private Buf device(String op, Tensor t, boolean copyIn) {
        t.checkAlive(op);
        if (!t.isContiguous()) {
            throw new DistException(op + ": expected a contiguous tensor, got " + t.describe());
        }
        long bytes = t.numel() * t.dtype().byteSize();
        if (t.device().kind() == Device.Kind.CUDA) {
            return new Buf(Backends.runtime(t.device()).address(t), null, null);
        }
        MemorySegment host = HostBuffers.segment(op, t);
        DeviceStream.Memory b = runtime.allocate(Math.max(bytes, 4), stream);
        if (copyIn) {
            b.copyFromHost(host, stream);
        }
        return new Buf(b.address(), host, b);
    }

    private static void copyOut(Buf b, DeviceStream s) {
        if (b.staging != null) {
            b.staging.copyToHost(b.host, s);
        }
    }

    private static List<AutoCloseable> staging(Buf... bufs) {
        List<AutoCloseable> l = new ArrayList<>();
        for (Buf b : bufs) {
            if (b.staging != null) {
                l.add(b.staging);
            }
        }
        return l;
    }

    @Override
    public Work allReduce(Tensor tensor, ReduceOp op) {
        begin("allReduce");
        Buf b = device("allReduce", tensor, true);
        stats.record(
                CommOp.ALL_REDUCE,
                tensor.numel(),
                tensor.numel() * tensor.dtype().byteSize());
        nccl.allReduce(
                b.ptr, b.ptr, tensor.numel(), Nccl.dataType(tensor.dtype()), Nccl.redOp(op), comm, stream.handle());
        copyOut(b, stream);
        return finish(label("allReduce"), staging(b));
    }

    @Override
    public Work allGather(Tensor input, Tensor output) {
        begin("allGather");
        if (output.numel() != input.numel() * size || input.dtype() != output.dtype()) {
            throw new DistException(label("allGather") + ": output " + output.describe() + " must hold " + size + " × "
                    + input.numel() + " elements of the input's dtype " + input.dtype());
        }
        Buf in = device("allGather", input, true);
        Buf out = device("allGather", output, false);
        stats.record(
                CommOp.ALL_GATHER, input.numel(), input.numel() * input.dtype().byteSize());
        nccl.allGather(in.ptr, out.ptr, input.numel(), Nccl.dataType(input.dtype()), comm, stream.handle());
        copyOut(out, stream);
        return finish(label("allGather"), staging(in, out));
    }

    @Override
    public Work reduceScatter(Tensor input, Tensor output, ReduceOp op) {
        begin("reduceScatter");
        if (input.numel() != output.numel() * size || input.dtype() != output.dtype()) {
            throw new DistException(label("reduceScatter") + ": input " + input.describe() + " must hold " + size
                    + " × " + output.numel() + " elements of the output's dtype " + output.dtype());
        }
        Buf in = device("reduceScatter", input, true);
        Buf out = device("reduceScatter", output, false);
        stats.record(
                CommOp.REDUCE_SCATTER,
                input.numel(),
                input.numel() * input.dtype().byteSize());
        nccl.reduceScatter(
                in.ptr, out.ptr, output.numel(), Nccl.dataType(input.dtype()), Nccl.redOp(op), comm, stream.handle());
        copyOut(out, stream);
        return finish(label("reduceScatter"), staging(in, out));
    }

    @Override
    public Work allToAll(Tensor input, long[] sendCounts, Tensor output, long[] recvCounts) {
        begin("allToAll");
        checkAllToAll(input, sendCounts, output, recvCounts);
        Buf in = device("allToAll", input, true);
        Buf out = device("allToAll", output, false);
        stats.record(
                CommOp.ALL_TO_ALL, input.numel(), input.numel() * input.dtype().byteSize());
        exchange(in.ptr, sendCounts, out.ptr, recvCounts, input.dtype());
        copyOut(out, stream);
        return finish(label("allToAll"), staging(in, out));
    }

    @Override
    public Work broadcast(Tensor tensor, int root) {
        begin("broadcast");
        checkRank("broadcast", "root", root);
        Buf b = device("broadcast", tensor, rank == root);
        stats.record(
                CommOp.BROADCAST,
                tensor.numel(),
                tensor.numel() * tensor.dtype().byteSize());
        nccl.broadcast(b.ptr, b.ptr, tensor.numel(), Nccl.dataType(tensor.dtype()), root, comm, stream.handle());
        copyOut(b, stream);
        return finish(label("broadcast"), staging(b));
    }

    @Override
    public Work send(Tensor tensor, int dst) {
        begin("send");
        checkRank("send", "destination", dst);
        Buf b = device("send", tensor, true);
        stats.record(
                CommOp.SEND, tensor.numel(), tensor.numel() * tensor.dtype().byteSize());
        nccl.groupStart();
        nccl.send(b.ptr, tensor.numel(), Nccl.dataType(tensor.dtype()), dst, comm, stream.handle());
        nccl.groupEnd();
        return finish(label("send to " + dst), staging(b));
    }

    @Override
    public Work recv(Tensor tensor, int src) {
        begin("recv");
        checkRank("recv", "source", src);
        Buf b = device("recv", tensor, false);
        stats.record(
                CommOp.RECV, tensor.numel(), tensor.numel() * tensor.dtype().byteSize());
        nccl.groupStart();
        nccl.recv(b.ptr, tensor.numel(), Nccl.dataType(tensor.dtype()), src, comm, stream.handle());
        nccl.groupEnd();
        copyOut(b, stream);
        return finish(label("recv from " + src), staging(b));
    }

    @Override
    public Work barrier() {
        begin("barrier");
        stats.record(CommOp.BARRIER, 0, 0);
        DeviceStream.Memory one = runtime.allocate(4, stream);
        one.fill32(0, stream);
        nccl.allReduce(
                one.address(),
                one.address(),
                1,
                Nccl.dataType(DType.F32),
                Nccl.redOp(ReduceOp.SUM),
                comm,
                stream.handle());
        return finish(label("barrier"), List.of(one));
    }

    @Override
    public ProcessGroup split(int color, int key) {
        begin("split");
        if (color < 0) {
            throw new DistException(label("split") + ": color must be >= 0, got " + color);
        }
        MemorySegment sub = nccl.commSplit(comm, color, key);
        // ncclCommSplit is collective: every rank learns its new rank and size from the (color, key) of all ranks;
        // NCCL does not hand them back directly here, so they are computed the same way from an all-gather.
        long[] mine = {color, key};
        int[][] all = gatherPairs(mine);
        List<Integer> same = new ArrayList<>();
        for (int r = 0; r < size; r++) {
            if (all[r][0] == color) {
                same.add(r);
            }
        }
        same.sort((a, b) -> all[a][1] != all[b][1] ? Integer.compare(all[a][1], all[b][1]) : Integer.compare(a, b));
        String sname = name + "/" + color + same.toString().replace(" ", "");
        return new NcclProcessGroup(nccl, runtime, sub, same.indexOf(rank), same.size(), sname, timeout);
    }

    private int[][] gatherPairs(long[] mine) {
        try (fulgur.tensor.Scope s = fulgur.tensor.Scope.open("nccl-split")) {
            Tensor in = Tensor.ofLongs(mine, 2);
            Tensor out = Tensor.zeros(DType.I64, size * 2);
            allGather(in, out).await();
            long[] v = out.toLongArray();
            int[][] pairs = new int[size][2];
            for (int r = 0; r < size; r++) {
                pairs[r][0] = (int) v[2 * r];
                pairs[r][1] = (int) v[2 * r + 1];
            }
            return pairs;
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        runtime.makeCurrent();
        if (!broken) {
            stream.synchronize();
            nccl.commDestroy(comm);
        }
        stream.close();
    }

    @Override
    public String toString() {
        return "NcclProcessGroup[" + name + ", rank " + rank + " of " + size + "]";
    }
}
