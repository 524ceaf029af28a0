package fulgur.dist.nccl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import fulgur.backend.NativeLibraries;
import fulgur.dist.ReduceOp;
import fulgur.tensor.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Optional;

/**
 * Hand-written FFM bindings to NCCL (libnccl.so.2; override with FULGUR_LIBNCCL). Device buffers are {@code long}
 * addresses, communicators and streams {@link MemorySegment} handles (a CUstream is a cudaStream_t). The 128-byte
 * {@code ncclUniqueId} is passed by value as a struct. Every call is checked: a failure throws
 * {@link NcclException} with ncclGetErrorString and, for a communicator, ncclGetLastError.
 */
public final class Nccl {
    public static final String ENV = "FULGUR_LIBNCCL";
    public static final int UNIQUE_ID_BYTES = 128;
    public static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE).withName("internal"));

    // ncclDataType_t
    static final int INT8 = 0, INT32 = 2, INT64 = 4, FLOAT16 = 6, FLOAT32 = 7, FLOAT64 = 8, BFLOAT16 = 9;
    // ncclResult_t
    static final int SUCCESS = 0, IN_PROGRESS = 7;

    private static volatile Nccl instance;

    private final MethodHandle getVersion,
            getUniqueId,
            commInitRank,
            commDestroy,
            commAbort,
            commGetAsyncError,
            getErrorString,
            allReduce,
            allGather,
            reduceScatter,
            broadcast,
            send,
            recv,
            groupStart,
            groupEnd;
    private final Optional<MethodHandle> commSplit, getLastError;

    private Nccl(NativeLibraries.Library lib) {
        var I = JAVA_INT;
        var L = JAVA_LONG;
        var A = ADDRESS;
        getVersion = lib.function(FunctionDescriptor.of(I, A), "ncclGetVersion");
        getUniqueId = lib.function(FunctionDescriptor.of(I, A), "ncclGetUniqueId");
        commInitRank = lib.function(FunctionDescriptor.of(I, A, I, UNIQUE_ID, I), "ncclCommInitRank");
        commDestroy = lib.function(FunctionDescriptor.of(I, A), "ncclCommDestroy");
        commAbort = lib.function(FunctionDescriptor.of(I, A), "ncclCommAbort");
        commGetAsyncError = lib.function(FunctionDescriptor.of(I, A, A), "ncclCommGetAsyncError");
        getErrorString = lib.function(FunctionDescriptor.of(A, I), "ncclGetErrorString");
        getLastError = lib.optionalFunction(FunctionDescriptor.of(A, A), "ncclGetLastError");
        commSplit = lib.optionalFunction(FunctionDescriptor.of(I, A, I, I, A, A), "ncclCommSplit");
        allReduce = lib.function(FunctionDescriptor.of(I, L, L, L, I, I, A, A), "ncclAllReduce");
        allGather = lib.function(FunctionDescriptor.of(I, L, L, L, I, A, A), "ncclAllGather");
        reduceScatter = lib.function(FunctionDescriptor.of(I, L, L, L, I, I, A, A), "ncclReduceScatter");
        broadcast = lib.function(FunctionDescriptor.of(I, L, L, L, I, I, A, A), "ncclBroadcast");
        send = lib.function(FunctionDescriptor.of(I, L, L, I, I, A, A), "ncclSend");
        recv = lib.function(FunctionDescriptor.of(I, L, L, I, I, A, A), "ncclRecv");
        groupStart = lib.function(FunctionDescriptor.of(I), "ncclGroupStart");
        groupEnd = lib.function(FunctionDescriptor.of(I), "ncclGroupEnd");
    }

    /** The bindings; opens libnccl on first use. */
    public static Nccl get() {
        Nccl n = instance;
        if (n == null) {
            synchronized (Nccl.class) {
                n = instance;
                if (n == null) {
                    n = new Nccl(NativeLibraries.load("NCCL (libnccl)", ENV, List.of("libnccl.so.2", "libnccl.so")));
                    instance = n;
                }
            }
        }
        return n;
    }

    public static boolean isAvailable() {
        try {
            get().version();
            return true;
        } catch (RuntimeException | Error e) {
            return false;
        }
    }

    static String resultName(int code) {
        return switch (code) {
            case 0 -> "ncclSuccess";
            case 1 -> "ncclUnhandledCudaError";
            case 2 -> "ncclSystemError";
            case 3 -> "ncclInternalError";
            case 4 -> "ncclInvalidArgument";
            case 5 -> "ncclInvalidUsage";
            case 6 -> "ncclRemoteError";
            case 7 -> "ncclInProgress";
            default -> "ncclResult " + code;
        };
    }

    /** NCCL's datatype for a fulgur dtype. */
    public static int dataType(DType d) {
        return switch (d) {
            case F32 -> FLOAT32;
            case F64 -> FLOAT64;
            case F16 -> FLOAT16;
            case BF16 -> BFLOAT16;
            case I32 -> INT32;
            case I64 -> INT64;
            case I8 -> INT8;
            default -> throw new IllegalArgumentException("NCCL has no datatype for " + d);
        };
    }

    /** ncclRedOp_t. */
    public static int redOp(ReduceOp op) {
        return switch (op) {
            case SUM -> 0;
            case MAX -> 2;
            case MIN -> 3;
            case AVG -> 4;
        };
    }

    private RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    void check(int rc, String call, MemorySegment comm) {
        if (rc == SUCCESS) {
            return;
        }
        String text;
        try {
            text = ((MemorySegment) getErrorString.invokeExact(rc))
                    .reinterpret(1024)
                    .getString(0);
            if (comm != null && getLastError.isPresent()) {
                MemorySegment last = (MemorySegment) getLastError.get().invokeExact(comm);
                if (!last.equals(MemorySegment.NULL)) {
                    String l = last.reinterpret(4096).getString(0);
                    if (!l.isBlank()) {
                        text += "; " + l;
                    }
                }
            }
        } catch (Throwable t) {
            text = "(no description)";
        }
        throw new NcclException(call, rc, text);
    }

    /** Version as NCCL encodes it (e.g. 22803 for 2.28.3). */
    public int version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) getVersion.invokeExact(v), "ncclGetVersion", null);
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public byte[] uniqueId() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(UNIQUE_ID);
            check((int) getUniqueId.invokeExact(id), "ncclGetUniqueId", null);
            return id.toArray(JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment commInitRank(int nranks, byte[] uniqueId, int rank) {
        if (uniqueId.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException(
                    "ncclCommInitRank: unique id must have " + UNIQUE_ID_BYTES + " bytes, got " + uniqueId.length);
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment comm = a.allocate(ADDRESS);
            MemorySegment id = a.allocate(UNIQUE_ID);
            MemorySegment.copy(uniqueId, 0, id, JAVA_BYTE, 0, UNIQUE_ID_BYTES);
            check(
                    (int) commInitRank.invokeExact(comm, nranks, id, rank),
                    "ncclCommInitRank(rank " + rank + " of " + nranks + ")",
                    null);
            return comm.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public boolean canSplit() {
        return commSplit.isPresent();
    }

    public MemorySegment commSplit(MemorySegment comm, int color, int key) {
        MethodHandle h = commSplit.orElseThrow(() ->
                new NcclException("ncclCommSplit", 5, "this NCCL is older than 2.18 and cannot split communicators"));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check(
                    (int) h.invokeExact(comm, color, key, out, MemorySegment.NULL),
                    "ncclCommSplit(color " + color + ", key " + key + ")",
                    comm);
            return out.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void commDestroy(MemorySegment comm) {
        try {
            check((int) commDestroy.invokeExact(comm), "ncclCommDestroy", null);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void commAbort(MemorySegment comm) {
        try {
            check((int) commAbort.invokeExact(comm), "ncclCommAbort", null);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The communicator's asynchronous error state (0 = none, 7 = still in progress). */
    public int asyncError(MemorySegment comm) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment r = a.allocate(JAVA_INT);
            check((int) commGetAsyncError.invokeExact(comm, r), "ncclCommGetAsyncError", comm);
            return r.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void allReduce(
            long send, long recv, long count, int dtype, int op, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) allReduce.invokeExact(send, recv, count, dtype, op, comm, stream), "ncclAllReduce", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void allGather(long send, long recv, long sendCount, int dtype, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) allGather.invokeExact(send, recv, sendCount, dtype, comm, stream), "ncclAllGather", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void reduceScatter(
            long send, long recv, long recvCount, int dtype, int op, MemorySegment comm, MemorySegment stream) {
        try {
            check(
                    (int) reduceScatter.invokeExact(send, recv, recvCount, dtype, op, comm, stream),
                    "ncclReduceScatter",
                    comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void broadcast(
            long send, long recv, long count, int dtype, int root, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) broadcast.invokeExact(send, recv, count, dtype, root, comm, stream), "ncclBroadcast", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void send(long buf, long count, int dtype, int peer, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) send.invokeExact(buf, count, dtype, peer, comm, stream), "ncclSend(to " + peer + ")", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void recv(long buf, long count, int dtype, int peer, MemorySegment comm, MemorySegment stream) {
        try {
            check((int) recv.invokeExact(buf, count, dtype, peer, comm, stream), "ncclRecv(from " + peer + ")", comm);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void groupStart() {
        try {
            check((int) groupStart.invokeExact(), "ncclGroupStart", null);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void groupEnd() {
        try {
            check((int) groupEnd.invokeExact(), "ncclGroupEnd", null);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
