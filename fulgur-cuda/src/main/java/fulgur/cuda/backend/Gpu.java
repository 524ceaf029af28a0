package fulgur.cuda.backend;

import fulgur.backend.DeferredChecks;
import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStorage;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.PinnedBuffer;
import fulgur.cuda.driver.CudaDriver;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the CUDA backend's kernels share: the device's context, the backend's stream (every op is enqueued on it, so
 * stream order alone orders them and the caching allocator's reuse), kernels by name, allocation, pointers and the
 * device-side error flag through which kernels report invalid indices.
 */
public final class Gpu {
    public static final int THREADS = 256;

    public final Device device;
    public final CudaContext ctx;
    public final CudaStream stream;
    private final int sms;
    private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();
    /** Fill every new tensor with 0xFF bytes (NaN in floating dtypes, -1 in integers): tests see unwritten elements. */
    public volatile boolean poison = Boolean.getBoolean("fulgur.cuda.poison");

    public Gpu(Device device) {
        this.device = device;
        this.ctx = CudaContext.get(device.index());
        this.stream = CudaStream.create();
        this.sms = ctx.device().multiprocessors();
    }

    public int multiprocessors() {
        return sms;
    }

    public void bind() {
        ctx.bind();
    }

    public Kernel kernel(String file, String name) {
        return kernels.computeIfAbsent(
                file + "#" + name, k -> ctx.module(file, Map.of()).kernel(name));
    }

    /** Blocks for a grid-stride loop over n elements. */
    public int blocks(long n) {
        long b = (n + THREADS - 1) / THREADS;
        return (int) Math.max(1, Math.min(b, (long) sms * 32));
    }

    /** A grid-stride launch over n elements (no launch when n is 0). */
    public void launch(Kernel k, long n, Object... args) {
        if (n <= 0) return;
        k.launch(stream, blocks(n), 1, 1, THREADS, 0, args);
    }

    /** A launch with one block of {@code threads} per row (grid-stride over rows). */
    public void launchRows(Kernel k, long rows, int threads, Object... args) {
        if (rows <= 0) return;
        int grid = (int) Math.min(rows, (long) sms * 64);
        k.launch(stream, grid, 1, 1, threads, 0, args);
    }

    /** Threads per row-block for rows of {@code cols} elements: 32..1024, a multiple of 32. */
    public static int rowThreads(long cols) {
        long t = 32;
        while (t < cols && t < 256) t <<= 1;
        if (cols >= 8192) t = 512;
        if (cols >= 32768) t = 1024;
        return (int) t;
    }

    // ------------------------------------------------------------------ tensors

    public Tensor alloc(DType dtype, int[] shape) {
        Shape.check("empty", shape);
        long bytes = Math.multiplyExact(Shape.numel(shape), (long) dtype.byteSize());
        DeviceBuffer buf = ctx.allocate(bytes, stream);
        if (poison && bytes > 0) CudaDriver.get().memsetD8Async(buf.address(), (byte) 0xFF, bytes, stream.handle());
        return Tensor.wrap(new CudaStorage(device, buf), dtype, shape);
    }

    public Tensor zeros(DType dtype, int[] shape) {
        Tensor t = alloc(dtype, shape);
        long bytes = t.numel() * dtype.byteSize();
        if (bytes > 0) {
            long a = ptr(t, "zeros").address();
            fulgur.cuda.KernelProfiler.around(
                    "memset", stream, () -> CudaDriver.get().memsetD8Async(a, (byte) 0, bytes, stream.handle()));
        }
        return t;
    }

    public static boolean onCuda(Tensor t) {
        return t.device().kind() == Device.Kind.CUDA;
    }

    /** Checks that t lives on this device and was not freed. */
    public void check(String op, Tensor t) {
        if (!t.device().equals(device)) {
            throw new IllegalArgumentException(op + ": expected a tensor on " + device + ", got " + t.describe());
        }
        t.checkAlive(op);
    }

    /** The device address of t's first element. */
    public DevicePointer ptr(Tensor t, String op) {
        if (!(t.storage() instanceof CudaStorage cs)) {
            throw new IllegalArgumentException(op + ": expected a tensor on " + device + ", got " + t.describe());
        }
        return DevicePointer.of(cs.address(op) + t.offset() * t.dtype().byteSize());
    }

    public static int code(DType d) {
        return d.ordinal();
    }

    /** t itself when contiguous, else a contiguous copy in the same dtype (on this device). */
    public Tensor contiguous(String op, Tensor t) {
        check(op, t);
        if (t.isContiguous()) return t;
        Tensor c = alloc(t.dtype(), t.shape());
        CudaCopy.deviceCopy(this, t, c);
        return c;
    }

    /**
     * The stride between consecutive rows of t seen as a [rows, last dim] matrix, when its last dimension is unit-strided
     * and one stride walks all rows in order (a column slice of a wider row-major tensor, e.g. one part of a fused
     * projection's output); else -1. A contiguous tensor gives its last dimension's size.
     */
    public static long rowStride(Tensor t) {
        int nd = t.ndim();
        if (nd == 0) return 1;
        int cols = t.size(nd - 1);
        if (cols > 1 && t.stride(nd - 1) != 1) return -1;
        long rs = -1, next = -1;
        for (int i = nd - 2; i >= 0; i--) {
            if (t.size(i) == 1) continue;
            if (rs < 0) {
                rs = t.stride(i);
                next = rs * t.size(i);
            } else if (t.stride(i) == next) {
                next *= t.size(i);
            } else {
                return -1;
            }
        }
        return rs < 0 ? cols : (rs < cols ? -1 : rs);
    }

    /** t when its rows are one stride apart ({@link #rowStride}), else a contiguous copy in the same dtype. */
    public Tensor rows(String op, Tensor t) {
        check(op, t);
        return rowStride(t) >= 0 ? t : contiguous(op, t);
    }

    /** t when contiguous and of dtype, else a contiguous converted copy. */
    public Tensor contiguousAs(String op, Tensor t, DType dtype) {
        check(op, t);
        if (t.isContiguous() && t.dtype() == dtype) return t;
        Tensor c = alloc(dtype, t.shape());
        CudaCopy.deviceCopy(this, t, c);
        return c;
    }

    /** Frees a temporary made by {@link #contiguous} or {@link #contiguousAs} (not the caller's own tensor). */
    public static void freeTemp(Tensor tmp, Tensor original) {
        if (tmp != null && tmp != original && tmp.storage() != original.storage()) tmp.close();
    }

    /** Converts a freshly made result to dtype (no copy when equal; the old buffer is freed). */
    public Tensor convert(Tensor t, DType dtype) {
        if (t.dtype() == dtype) return t;
        Tensor out = alloc(dtype, t.shape());
        CudaCopy.deviceCopy(this, t, out);
        t.close();
        return out;
    }

    /** An integer index tensor, contiguous on this device (a CPU one is uploaded). */
    public Tensor index(String op, Tensor idx) {
        idx.checkAlive(op);
        if (idx.dtype() != DType.I32 && idx.dtype() != DType.I64) {
            throw new IllegalArgumentException(
                    op + ": expected an integer (i32 or i64) index tensor, got " + idx.describe());
        }
        if (idx.device().kind() == Device.Kind.CPU) {
            Tensor d = alloc(idx.dtype(), idx.shape());
            CudaCopy.copy(this, idx, d);
            return d;
        }
        return contiguous(op, idx);
    }

    // ------------------------------------------------------------------ host transfers

    public void synchronize() {
        refuseHostRead("synchronize");
        stream.synchronize();
    }

    /** Reads one long from device memory (synchronizes the stream). */
    public long readLong(DevicePointer p) {
        refuseHostRead("read");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(8, 8);
            CudaDriver.get().memcpyDtoHAsync(h, p.address(), 8, stream.handle());
            stream.synchronize();
            return h.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    /** The value of element {@code flat} (row-major) of an integer tensor on this device. */
    public long readIndex(Tensor idx, long flat) {
        refuseHostRead("read");
        long e = idx.storageIndex(flat);
        int es = idx.dtype().byteSize();
        CudaStorage cs = (CudaStorage) idx.storage();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(8, 8);
            CudaDriver.get().memcpyDtoHAsync(h, cs.address("index") + e * es, es, stream.handle());
            stream.synchronize();
            return es == 4 ? h.get(ValueLayout.JAVA_INT, 0) : h.get(ValueLayout.JAVA_LONG, 0);
        }
    }

    // ------------------------------------------------------------------ checks, deferral and capture

    /** A kernel's error flag: its own buffer (checked at once) or a slot of a {@link DeviceChecks} page (checked later). */
    public record Flag(DevicePointer pointer, DeviceBuffer own, DeviceChecks sink) implements DevicePointer {
        @Override
        public long address() {
            return pointer.address();
        }
    }

    /** What a capture records besides the graph: its check flags and the pinned copies of host data it uploads. */
    public static final class Capture implements AutoCloseable {
        final DeviceChecks checks;
        private final List<PinnedBuffer> uploads = new ArrayList<>();

        Capture(DeviceChecks checks) {
            this.checks = checks;
        }

        /** Throws the first failed check of the last replay (the caller has synchronized). */
        public void verify() {
            checks.verify();
        }

        @Override
        public void close() {
            checks.close();
            uploads.forEach(PinnedBuffer::close);
            uploads.clear();
        }
    }

    private int deferDepth;
    private DeviceChecks deferred;
    private Capture capture;

    /** A device flag that kernels lower to the first failing position; {@link #checkFlag} reports it. */
    public Flag errorFlag() {
        DeviceChecks sink = capture != null ? capture.checks : deferDepth > 0 ? deferred : null;
        if (sink != null) return new Flag(sink.slot(), null, sink);
        DeviceBuffer b = ctx.allocate(8, stream);
        CudaDriver.get().memsetD8Async(b.address(), (byte) 0x7F, 8, stream.handle());
        return new Flag(b, b, null);
    }

    /**
     * Reports the first failure recorded in {@code flag}: at once (synchronizing, with the offending value read from
     * {@code idx}) or, while checks are deferred or a graph is captured, when they are verified.
     */
    public void checkFlag(Flag flag, Tensor idx, DeviceChecks.Failure failure) {
        if (flag.sink() != null) {
            flag.sink().onFailure(failure);
            return;
        }
        long bad;
        try {
            bad = readLong(flag.own());
        } finally {
            flag.own().close();
        }
        if (bad != DeviceChecks.CLEAR) throw failure.at(idx == null ? null : Long.toString(readIndex(idx, bad)), bad);
    }

    /** Collects checks until the outermost returned scope closes (see {@link fulgur.backend.DeviceRuntime#deferChecks()}). */
    public DeferredChecks deferChecks() {
        if (deferred == null) deferred = new DeviceChecks(ctx, stream);
        deferDepth++;
        return new DeferredChecks() {
            private boolean closed;

            @Override
            public void close() {
                if (closed) return;
                closed = true;
                if (--deferDepth > 0) return;
                try {
                    if (!deferred.isEmpty()) {
                        synchronize();
                        deferred.verify();
                    }
                } finally {
                    deferred.reset();
                }
            }
        };
    }

    /** Starts recording: flags go to the capture's own page, host reads are refused, uploads become constants. */
    public Capture beginCapture() {
        if (capture != null) throw new IllegalStateException("a graph is already being captured on " + device);
        capture = new Capture(new DeviceChecks(ctx, stream));
        return capture;
    }

    public void endCapture() {
        capture = null;
    }

    /** Throws when a graph is being captured: {@code op} would read device memory on the host. */
    public void refuseHostRead(String op) {
        if (capture != null) {
            throw new IllegalStateException(
                    op + ": reads device memory on the host while a CUDA graph is being captured; a captured step must "
                            + "leave its results on the device (no item(), toArray() or copy to the host inside it)");
        }
    }

    /**
     * The host bytes an upload copies from: {@code src} itself, or while capturing a pinned copy that the graph keeps (a
     * replay uploads the same constant again; per-step data belongs in buffers written before each replay).
     */
    public MemorySegment uploadSource(MemorySegment src) {
        if (capture == null) return src;
        CudaDriver d = CudaDriver.get();
        int previous = d.threadExchangeStreamCaptureMode(CudaDriver.CAPTURE_MODE_RELAXED);
        PinnedBuffer pinned;
        try {
            pinned = PinnedBuffer.allocate(Math.max(1, src.byteSize()));
        } finally {
            d.threadExchangeStreamCaptureMode(previous);
        }
        capture.uploads.add(pinned);
        MemorySegment dst = pinned.segment().asSlice(0, src.byteSize());
        dst.copyFrom(src);
        return dst;
    }
}
