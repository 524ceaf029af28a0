package fulgur.cuda.driver;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;

import fulgur.backend.NativeLibraries;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.List;

/**
 * Hand-written FFM bindings to the CUDA driver API (libcuda.so.1, override with FULGUR_LIBCUDA).
 * Device pointers are {@code long}; opaque handles (context, module, function, stream, event, graph)
 * are {@link MemorySegment} addresses. Every call is checked: a failure throws {@link CudaException}
 * naming the call and carrying cuGetErrorName / cuGetErrorString.
 */
public final class CudaDriver {
    public static final String ENV = "FULGUR_LIBCUDA";

    // device attributes (CUdevice_attribute)
    public static final int ATTR_MAX_THREADS_PER_BLOCK = 1;
    public static final int ATTR_MULTIPROCESSOR_COUNT = 16;
    public static final int ATTR_L2_CACHE_SIZE = 38;
    public static final int ATTR_COMPUTE_CAPABILITY_MAJOR = 75;
    public static final int ATTR_COMPUTE_CAPABILITY_MINOR = 76;
    public static final int ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    // function attributes (CUfunction_attribute)
    public static final int FUNC_MAX_THREADS_PER_BLOCK = 0;
    public static final int FUNC_SHARED_SIZE_BYTES = 1;
    public static final int FUNC_LOCAL_SIZE_BYTES = 3;
    public static final int FUNC_NUM_REGS = 4;
    public static final int FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    // flags
    public static final int STREAM_NON_BLOCKING = 1;
    public static final int EVENT_DEFAULT = 0;
    public static final int EVENT_DISABLE_TIMING = 2;
    public static final int CAPTURE_MODE_GLOBAL = 0;
    public static final int CAPTURE_MODE_THREAD_LOCAL = 1;
    public static final int CAPTURE_MODE_RELAXED = 2;

    private static volatile CudaDriver instance;

    private final NativeLibraries.Library lib;
    private final MethodHandle cuGetErrorName,
            cuGetErrorString,
            cuInit,
            cuDriverGetVersion,
            cuDeviceGetCount,
            cuDeviceGet,
            cuDeviceGetName,
            cuDeviceGetAttribute,
            cuDeviceTotalMem,
            cuDevicePrimaryCtxRetain,
            cuDevicePrimaryCtxRelease,
            cuCtxSetCurrent,
            cuCtxGetCurrent,
            cuCtxSynchronize,
            cuMemGetInfo,
            cuMemAlloc,
            cuMemFree,
            cuMemHostAlloc,
            cuMemFreeHost,
            cuMemcpyHtoD,
            cuMemcpyDtoH,
            cuMemcpyDtoD,
            cuMemcpyHtoDAsync,
            cuMemcpyDtoHAsync,
            cuMemcpyDtoDAsync,
            cuMemsetD8,
            cuMemsetD16,
            cuMemsetD32,
            cuMemsetD8Async,
            cuMemsetD16Async,
            cuMemsetD32Async,
            cuStreamCreate,
            cuStreamDestroy,
            cuStreamSynchronize,
            cuStreamWaitEvent,
            cuStreamQuery,
            cuEventCreate,
            cuEventDestroy,
            cuEventRecord,
            cuEventSynchronize,
            cuEventQuery,
            cuEventElapsedTime,
            cuModuleLoadData,
            cuModuleUnload,
            cuModuleGetFunction,
            cuLaunchKernel,
            cuFuncGetAttribute,
            cuFuncSetAttribute,
            cuStreamBeginCapture,
            cuStreamEndCapture,
            cuStreamIsCapturing,
            cuGraphInstantiateWithFlags,
            cuGraphLaunch,
            cuGraphExecDestroy,
            cuGraphDestroy,
            cuThreadExchangeStreamCaptureMode;

    private CudaDriver(NativeLibraries.Library lib) {
        this.lib = lib;
        var I = JAVA_INT;
        var L = JAVA_LONG;
        var A = ADDRESS;
        cuGetErrorName = f(FunctionDescriptor.of(I, I, A), "cuGetErrorName");
        cuGetErrorString = f(FunctionDescriptor.of(I, I, A), "cuGetErrorString");
        cuInit = f(FunctionDescriptor.of(I, I), "cuInit");
        cuDriverGetVersion = f(FunctionDescriptor.of(I, A), "cuDriverGetVersion");
        cuDeviceGetCount = f(FunctionDescriptor.of(I, A), "cuDeviceGetCount");
        cuDeviceGet = f(FunctionDescriptor.of(I, A, I), "cuDeviceGet");
        cuDeviceGetName = f(FunctionDescriptor.of(I, A, I, I), "cuDeviceGetName");
        cuDeviceGetAttribute = f(FunctionDescriptor.of(I, A, I, I), "cuDeviceGetAttribute");
        cuDeviceTotalMem = f(FunctionDescriptor.of(I, A, I), "cuDeviceTotalMem_v2");
        cuDevicePrimaryCtxRetain = f(FunctionDescriptor.of(I, A, I), "cuDevicePrimaryCtxRetain");
        cuDevicePrimaryCtxRelease =
                f(FunctionDescriptor.of(I, I), "cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease");
        cuCtxSetCurrent = f(FunctionDescriptor.of(I, A), "cuCtxSetCurrent");
        cuCtxGetCurrent = f(FunctionDescriptor.of(I, A), "cuCtxGetCurrent");
        cuCtxSynchronize = f(FunctionDescriptor.of(I), "cuCtxSynchronize");
        cuMemGetInfo = f(FunctionDescriptor.of(I, A, A), "cuMemGetInfo_v2");
        cuMemAlloc = f(FunctionDescriptor.of(I, A, L), "cuMemAlloc_v2");
        cuMemFree = f(FunctionDescriptor.of(I, L), "cuMemFree_v2");
        cuMemHostAlloc = f(FunctionDescriptor.of(I, A, L, I), "cuMemHostAlloc");
        cuMemFreeHost = f(FunctionDescriptor.of(I, A), "cuMemFreeHost");
        cuMemcpyHtoD = f(FunctionDescriptor.of(I, L, A, L), "cuMemcpyHtoD_v2");
        cuMemcpyDtoH = f(FunctionDescriptor.of(I, A, L, L), "cuMemcpyDtoH_v2");
        cuMemcpyDtoD = f(FunctionDescriptor.of(I, L, L, L), "cuMemcpyDtoD_v2");
        cuMemcpyHtoDAsync = f(FunctionDescriptor.of(I, L, A, L, A), "cuMemcpyHtoDAsync_v2");
        cuMemcpyDtoHAsync = f(FunctionDescriptor.of(I, A, L, L, A), "cuMemcpyDtoHAsync_v2");
        cuMemcpyDtoDAsync = f(FunctionDescriptor.of(I, L, L, L, A), "cuMemcpyDtoDAsync_v2");
        cuMemsetD8 = f(FunctionDescriptor.of(I, L, JAVA_BYTE, L), "cuMemsetD8_v2");
        cuMemsetD16 = f(FunctionDescriptor.of(I, L, JAVA_SHORT, L), "cuMemsetD16_v2");
        cuMemsetD32 = f(FunctionDescriptor.of(I, L, I, L), "cuMemsetD32_v2");
        cuMemsetD8Async = f(FunctionDescriptor.of(I, L, JAVA_BYTE, L, A), "cuMemsetD8Async");
        cuMemsetD16Async = f(FunctionDescriptor.of(I, L, JAVA_SHORT, L, A), "cuMemsetD16Async");
        cuMemsetD32Async = f(FunctionDescriptor.of(I, L, I, L, A), "cuMemsetD32Async");
        cuStreamCreate = f(FunctionDescriptor.of(I, A, I), "cuStreamCreate");
        cuStreamDestroy = f(FunctionDescriptor.of(I, A), "cuStreamDestroy_v2", "cuStreamDestroy");
        cuStreamSynchronize = f(FunctionDescriptor.of(I, A), "cuStreamSynchronize");
        cuStreamWaitEvent = f(FunctionDescriptor.of(I, A, A, I), "cuStreamWaitEvent");
        cuStreamQuery = f(FunctionDescriptor.of(I, A), "cuStreamQuery");
        cuEventCreate = f(FunctionDescriptor.of(I, A, I), "cuEventCreate");
        cuEventDestroy = f(FunctionDescriptor.of(I, A), "cuEventDestroy_v2", "cuEventDestroy");
        cuEventRecord = f(FunctionDescriptor.of(I, A, A), "cuEventRecord");
        cuEventSynchronize = f(FunctionDescriptor.of(I, A), "cuEventSynchronize");
        cuEventQuery = f(FunctionDescriptor.of(I, A), "cuEventQuery");
        cuEventElapsedTime = f(FunctionDescriptor.of(I, A, A, A), "cuEventElapsedTime_v2", "cuEventElapsedTime");
        cuModuleLoadData = f(FunctionDescriptor.of(I, A, A), "cuModuleLoadData");
        cuModuleUnload = f(FunctionDescriptor.of(I, A), "cuModuleUnload");
        cuModuleGetFunction = f(FunctionDescriptor.of(I, A, A, A), "cuModuleGetFunction");
        cuLaunchKernel = f(FunctionDescriptor.of(I, A, I, I, I, I, I, I, I, A, A, A), "cuLaunchKernel");
        cuFuncGetAttribute = f(FunctionDescriptor.of(I, A, I, A), "cuFuncGetAttribute");
        cuFuncSetAttribute = f(FunctionDescriptor.of(I, A, I, I), "cuFuncSetAttribute");
        cuStreamBeginCapture = f(FunctionDescriptor.of(I, A, I), "cuStreamBeginCapture_v2");
        cuStreamEndCapture = f(FunctionDescriptor.of(I, A, A), "cuStreamEndCapture");
        cuStreamIsCapturing = f(FunctionDescriptor.of(I, A, A), "cuStreamIsCapturing");
        cuGraphInstantiateWithFlags = f(FunctionDescriptor.of(I, A, A, L), "cuGraphInstantiateWithFlags");
        cuGraphLaunch = f(FunctionDescriptor.of(I, A, A), "cuGraphLaunch");
        cuGraphExecDestroy = f(FunctionDescriptor.of(I, A), "cuGraphExecDestroy");
        cuGraphDestroy = f(FunctionDescriptor.of(I, A), "cuGraphDestroy");
        cuThreadExchangeStreamCaptureMode = f(FunctionDescriptor.of(I, A), "cuThreadExchangeStreamCaptureMode");
    }

    private MethodHandle f(FunctionDescriptor d, String... names) {
        return lib.function(d, names);
    }

    /** The driver bindings; opens libcuda on first use and runs cuInit(0). */
    public static CudaDriver get() {
        CudaDriver d = instance;
        if (d == null) {
            synchronized (CudaDriver.class) {
                d = instance;
                if (d == null) {
                    d = new CudaDriver(NativeLibraries.load(
                            "the CUDA driver (libcuda)", ENV, List.of("libcuda.so.1", "libcuda.so")));
                    d.init(0);
                    instance = d;
                }
            }
        }
        return d;
    }

    /** Whether a driver could be opened and initialised (no exception escapes). */
    public static boolean isAvailable() {
        try {
            return get().deviceCount() > 0;
        } catch (RuntimeException | Error e) {
            return false;
        }
    }

    // ---------------------------------------------------------------- checking
    public void check(int rc, String call) {
        if (rc != 0) throw error(rc, call);
    }

    public CudaException error(int rc, String call) {
        String name = "CUDA_ERROR_" + rc, text = "(no description)";
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            if ((int) cuGetErrorName.invokeExact(rc, p) == 0
                    && !p.get(ADDRESS, 0).equals(MemorySegment.NULL))
                name = p.get(ADDRESS, 0).reinterpret(256).getString(0);
            if ((int) cuGetErrorString.invokeExact(rc, p) == 0
                    && !p.get(ADDRESS, 0).equals(MemorySegment.NULL))
                text = p.get(ADDRESS, 0).reinterpret(1024).getString(0);
        } catch (Throwable t) {
            // keep the defaults
        }
        return new CudaException(call, rc, name, text);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }

    // ---------------------------------------------------------------- device / context
    public void init(int flags) {
        try {
            check((int) cuInit.invokeExact(flags), "cuInit");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) cuDriverGetVersion.invokeExact(v), "cuDriverGetVersion");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) cuDeviceGetCount.invokeExact(v), "cuDeviceGetCount");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) cuDeviceGet.invokeExact(v, ordinal), "cuDeviceGet(" + ordinal + ")");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public String deviceName(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(256);
            check((int) cuDeviceGetName.invokeExact(v, 256, dev), "cuDeviceGetName");
            return v.getString(0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public int deviceAttribute(int attribute, int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) cuDeviceGetAttribute.invokeExact(v, attribute, dev), "cuDeviceGetAttribute(" + attribute + ")");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public long deviceTotalMem(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            check((int) cuDeviceTotalMem.invokeExact(v, dev), "cuDeviceTotalMem");
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment primaryCtxRetain(int dev) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuDevicePrimaryCtxRetain.invokeExact(v, dev), "cuDevicePrimaryCtxRetain");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void primaryCtxRelease(int dev) {
        try {
            check((int) cuDevicePrimaryCtxRelease.invokeExact(dev), "cuDevicePrimaryCtxRelease");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void ctxSetCurrent(MemorySegment ctx) {
        try {
            check((int) cuCtxSetCurrent.invokeExact(ctx), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment ctxGetCurrent() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuCtxGetCurrent.invokeExact(v), "cuCtxGetCurrent");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void ctxSynchronize() {
        try {
            check((int) cuCtxSynchronize.invokeExact(), "cuCtxSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** {free, total} bytes of device memory. */
    public long[] memGetInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(JAVA_LONG), t = a.allocate(JAVA_LONG);
            check((int) cuMemGetInfo.invokeExact(f, t), "cuMemGetInfo");
            return new long[] {f.get(JAVA_LONG, 0), t.get(JAVA_LONG, 0)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---------------------------------------------------------------- memory
    public long memAlloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            check((int) cuMemAlloc.invokeExact(v, bytes), "cuMemAlloc(" + bytes + " bytes)");
            return v.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memFree(long dptr) {
        try {
            check((int) cuMemFree.invokeExact(dptr), "cuMemFree");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Page-locked host memory, portable across contexts. */
    public MemorySegment memHostAlloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuMemHostAlloc.invokeExact(v, bytes, 1), "cuMemHostAlloc(" + bytes + " bytes)");
            return v.get(ADDRESS, 0).reinterpret(bytes);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memFreeHost(MemorySegment p) {
        try {
            check((int) cuMemFreeHost.invokeExact(p), "cuMemFreeHost");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memcpyHtoD(long dst, MemorySegment src, long bytes) {
        try {
            check((int) cuMemcpyHtoD.invokeExact(dst, src, bytes), "cuMemcpyHtoD");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memcpyDtoH(MemorySegment dst, long src, long bytes) {
        try {
            check((int) cuMemcpyDtoH.invokeExact(dst, src, bytes), "cuMemcpyDtoH");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memcpyDtoD(long dst, long src, long bytes) {
        try {
            check((int) cuMemcpyDtoD.invokeExact(dst, src, bytes), "cuMemcpyDtoD");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memcpyHtoDAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyHtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyHtoDAsync");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memcpyDtoHAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyDtoHAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoHAsync");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memcpyDtoDAsync(long dst, long src, long bytes, MemorySegment stream) {
        try {
            check((int) cuMemcpyDtoDAsync.invokeExact(dst, src, bytes, stream), "cuMemcpyDtoDAsync");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD8(long dst, byte value, long count) {
        try {
            check((int) cuMemsetD8.invokeExact(dst, value, count), "cuMemsetD8");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD16(long dst, short value, long count) {
        try {
            check((int) cuMemsetD16.invokeExact(dst, value, count), "cuMemsetD16");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD32(long dst, int value, long count) {
        try {
            check((int) cuMemsetD32.invokeExact(dst, value, count), "cuMemsetD32");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD8Async(long dst, byte value, long count, MemorySegment stream) {
        try {
            check((int) cuMemsetD8Async.invokeExact(dst, value, count, stream), "cuMemsetD8Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD16Async(long dst, short value, long count, MemorySegment stream) {
        try {
            check((int) cuMemsetD16Async.invokeExact(dst, value, count, stream), "cuMemsetD16Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void memsetD32Async(long dst, int value, long count, MemorySegment stream) {
        try {
            check((int) cuMemsetD32Async.invokeExact(dst, value, count, stream), "cuMemsetD32Async");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---------------------------------------------------------------- streams and events
    public MemorySegment streamCreate(int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuStreamCreate.invokeExact(v, flags), "cuStreamCreate");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void streamDestroy(MemorySegment s) {
        try {
            check((int) cuStreamDestroy.invokeExact(s), "cuStreamDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void streamSynchronize(MemorySegment s) {
        try {
            check((int) cuStreamSynchronize.invokeExact(s), "cuStreamSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void streamWaitEvent(MemorySegment s, MemorySegment e) {
        try {
            check((int) cuStreamWaitEvent.invokeExact(s, e, 0), "cuStreamWaitEvent");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** True when all work on the stream is done (CUDA_ERROR_NOT_READY = 600 gives false). */
    public boolean streamQuery(MemorySegment s) {
        try {
            int rc = (int) cuStreamQuery.invokeExact(s);
            if (rc == 600) return false;
            check(rc, "cuStreamQuery");
            return true;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment eventCreate(int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuEventCreate.invokeExact(v, flags), "cuEventCreate");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void eventDestroy(MemorySegment e) {
        try {
            check((int) cuEventDestroy.invokeExact(e), "cuEventDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void eventRecord(MemorySegment e, MemorySegment stream) {
        try {
            check((int) cuEventRecord.invokeExact(e, stream), "cuEventRecord");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void eventSynchronize(MemorySegment e) {
        try {
            check((int) cuEventSynchronize.invokeExact(e), "cuEventSynchronize");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** True when the event has completed (CUDA_ERROR_NOT_READY gives false). */
    public boolean eventQuery(MemorySegment e) {
        try {
            int rc = (int) cuEventQuery.invokeExact(e);
            if (rc == 600) return false;
            check(rc, "cuEventQuery");
            return true;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public float eventElapsedMillis(MemorySegment start, MemorySegment end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_FLOAT);
            check((int) cuEventElapsedTime.invokeExact(v, start, end), "cuEventElapsedTime");
            return v.get(JAVA_FLOAT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    // ---------------------------------------------------------------- modules and launches
    public MemorySegment moduleLoadData(MemorySegment image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuModuleLoadData.invokeExact(v, image), "cuModuleLoadData");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void moduleUnload(MemorySegment module) {
        try {
            check((int) cuModuleUnload.invokeExact(module), "cuModuleUnload");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment moduleGetFunction(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(
                    (int) cuModuleGetFunction.invokeExact(v, module, a.allocateFrom(name)),
                    "cuModuleGetFunction(" + name + ")");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public int funcGetAttribute(int attribute, MemorySegment fn) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) cuFuncGetAttribute.invokeExact(v, attribute, fn), "cuFuncGetAttribute(" + attribute + ")");
            return v.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void funcSetAttribute(MemorySegment fn, int attribute, int value) {
        try {
            check((int) cuFuncSetAttribute.invokeExact(fn, attribute, value), "cuFuncSetAttribute(" + attribute + ")");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** cuLaunchKernel with a prepared {@code void**} parameter array. */
    public void launchKernel(
            MemorySegment fn,
            int gx,
            int gy,
            int gz,
            int bx,
            int by,
            int bz,
            int sharedBytes,
            MemorySegment stream,
            MemorySegment params,
            String what) {
        int rc;
        try {
            rc = (int) cuLaunchKernel.invokeExact(
                    fn, gx, gy, gz, bx, by, bz, sharedBytes, stream, params, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (rc != 0) throw error(rc, "cuLaunchKernel(" + what + ")");
    }

    // ---------------------------------------------------------------- graphs
    /** Sets this thread's stream-capture mode and returns the previous one (cuThreadExchangeStreamCaptureMode). */
    public int threadExchangeStreamCaptureMode(int mode) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(JAVA_INT);
            m.set(JAVA_INT, 0, mode);
            check((int) cuThreadExchangeStreamCaptureMode.invokeExact(m), "cuThreadExchangeStreamCaptureMode");
            return m.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void streamBeginCapture(MemorySegment stream, int mode) {
        try {
            check((int) cuStreamBeginCapture.invokeExact(stream, mode), "cuStreamBeginCapture");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Whether {@code stream} is being captured into a graph (cuStreamIsCapturing: status not NONE). */
    public boolean streamIsCapturing(MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check((int) cuStreamIsCapturing.invokeExact(stream, v), "cuStreamIsCapturing");
            return v.get(JAVA_INT, 0) != 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment streamEndCapture(MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuStreamEndCapture.invokeExact(stream, v), "cuStreamEndCapture");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public MemorySegment graphInstantiate(MemorySegment graph) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check((int) cuGraphInstantiateWithFlags.invokeExact(v, graph, 0L), "cuGraphInstantiateWithFlags");
            return v.get(ADDRESS, 0);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void graphLaunch(MemorySegment exec, MemorySegment stream) {
        try {
            check((int) cuGraphLaunch.invokeExact(exec, stream), "cuGraphLaunch");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void graphExecDestroy(MemorySegment exec) {
        try {
            check((int) cuGraphExecDestroy.invokeExact(exec), "cuGraphExecDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public void graphDestroy(MemorySegment graph) {
        try {
            check((int) cuGraphDestroy.invokeExact(graph), "cuGraphDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }
}
