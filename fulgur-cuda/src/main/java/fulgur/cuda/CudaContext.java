package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import fulgur.cuda.driver.CudaException;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One device's primary context, with its caching allocator, kernel cache and loaded modules.
 * {@link #get(int)} gives one shared instance per device; {@link #bind()} makes it current on the
 * calling thread (each thread that calls the driver directly must bind first; fulgur's own entry
 * points do it).
 */
public final class CudaContext implements AutoCloseable {
    private static final Map<Integer, CudaContext> CONTEXTS = new ConcurrentHashMap<>();

    private final CudaDevice device;
    private final MemorySegment context;
    private final CachingAllocator allocator;
    private final KernelCache kernelCache = KernelCache.fromEnvironment();
    private final Map<String, KernelModule> modules = new HashMap<>();
    private final ThreadLocal<Boolean> bound = ThreadLocal.withInitial(() -> false);
    private boolean closed;

    private CudaContext(int ordinal) {
        CudaDriver d = CudaDriver.get();
        int count = d.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw new IllegalArgumentException("CUDA device " + ordinal + " requested, " + count + " present");
        }
        this.device = CudaDevice.query(d, ordinal);
        this.context = d.primaryCtxRetain(device.handle());
        d.ctxSetCurrent(context);
        bound.set(true);
        this.allocator = new CachingAllocator(new CachingAllocator.Backend() {
            @Override
            public long malloc(long bytes) {
                bind();
                return d.memAlloc(bytes);
            }

            @Override
            public void free(long address) {
                bind();
                d.memFree(address);
            }

            @Override
            public boolean streamIdle(long streamId) {
                bind();
                return d.streamQuery(MemorySegment.ofAddress(streamId));
            }

            @Override
            public void synchronize() {
                bind();
                d.ctxSynchronize();
            }

            @Override
            public boolean isOutOfMemory(RuntimeException e) {
                return e instanceof CudaException c && c.code() == 2;
            }

            @Override
            public long mallocWhileCapturing(long bytes) {
                // as PyTorch does: a cuMemAlloc is safe during capture as long as the block is not freed before replays
                bind();
                int previous = d.threadExchangeStreamCaptureMode(CudaDriver.CAPTURE_MODE_RELAXED);
                try {
                    return d.memAlloc(bytes);
                } finally {
                    d.threadExchangeStreamCaptureMode(previous);
                }
            }
        });
    }

    /**
     * The shared context of device {@code ordinal}, created on first use.
     *
     * @param ordinal the device's ordinal
     * @return the context, current on the calling thread
     * @throws fulgur.cuda.driver.CudaException when the driver or device is unavailable
     */
    public static CudaContext get(int ordinal) {
        CudaContext c = CONTEXTS.computeIfAbsent(ordinal, CudaContext::new);
        c.bind();
        return c;
    }

    /**
     * Whether a CUDA driver and at least one device are present.
     *
     * @return true when a GPU can be used
     */
    public static boolean isAvailable() {
        return CudaDriver.isAvailable();
    }

    /** {@return the device's properties} */
    public CudaDevice device() {
        return device;
    }

    /** {@return the context's caching allocator} */
    public CachingAllocator allocator() {
        return allocator;
    }

    /** {@return the on-disk cache of compiled kernels} */
    public KernelCache kernelCache() {
        return kernelCache;
    }

    /** Makes this context current on the calling thread. */
    public void bind() {
        if (!bound.get()) {
            CudaDriver.get().ctxSetCurrent(context);
            bound.set(true);
        }
    }

    /** Waits for all work in this context. */
    public void synchronize() {
        bind();
        CudaDriver.get().ctxSynchronize();
    }

    /**
     * Device memory of {@code bytes}, ordered on {@code stream}.
     *
     * @param bytes the size
     * @param stream the stream that will use it
     * @return the buffer, to close
     */
    public DeviceBuffer allocate(long bytes, CudaStream stream) {
        bind();
        return allocator.allocate(bytes, stream);
    }

    /**
     * A module compiled from resource {@code file} with {@code defines}, loaded once per context.
     *
     * @param file a resource under {@link KernelModule#RESOURCE_ROOT}, e.g. "lightning.cu"
     * @param defines macro definitions
     * @return the module
     * @throws fulgur.cuda.nvrtc.NvrtcException when compilation fails
     */
    public synchronized KernelModule module(String file, Map<String, String> defines) {
        String key = file + " " + new java.util.TreeMap<>(defines);
        KernelModule m = modules.get(key);
        if (m == null) {
            m = KernelModule.load(this, file, defines);
            modules.put(key, m);
        }
        return m;
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        bind();
        allocator.close();
        for (KernelModule m : modules.values()) m.close();
        modules.clear();
        CONTEXTS.remove(device.ordinal());
        CudaDriver.get().primaryCtxRelease(device.handle());
    }
}
