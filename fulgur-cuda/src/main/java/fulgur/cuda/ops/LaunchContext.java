package fulgur.cuda.ops;

import fulgur.backend.Backends;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStorage;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.driver.CudaDriver;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * What the kernel launchers of {@code fulgur.cuda.ops.*} share: the CUDA backend whose stream they enqueue on (so
 * stream order orders them with every other op of that backend, and a CUDA graph captured on it records them),
 * output allocation through the backend (its caching allocator; NaN-poisoned when the backend poisons), device
 * addresses of tensors, and argument checks that name the op.
 */
public final class LaunchContext {
    private final CudaBackend backend;

    public LaunchContext(CudaBackend backend) {
        if (backend == null) throw new IllegalArgumentException("a CudaBackend is required");
        this.backend = backend;
    }

    /** The launch context of a CUDA device's backend. */
    public static LaunchContext of(Device device) {
        if (device.kind() != Device.Kind.CUDA)
            throw new IllegalArgumentException("expected a CUDA device, got " + device);
        return new LaunchContext((CudaBackend) Backends.of(device));
    }

    public CudaBackend backend() {
        return backend;
    }

    public CudaContext context() {
        return backend.context();
    }

    public CudaStream stream() {
        return backend.stream();
    }

    public Device device() {
        return backend.device();
    }

    public int multiprocessors() {
        return context().device().multiprocessors();
    }

    /** A kernel of resource {@code file} compiled with {@code defines} (loaded once per context). */
    public Kernel kernel(String file, Map<String, String> defines, String name) {
        return context().module(file, defines).kernel(name);
    }

    /** A new tensor on this device (uninitialised; NaN-filled when the backend poisons). */
    public Tensor empty(DType dtype, int... shape) {
        backend.context().bind();
        return backend.empty(dtype, shape);
    }

    /** A new tensor of zeros (an asynchronous memset on the stream). */
    public Tensor zeros(DType dtype, int... shape) {
        Tensor t = empty(dtype, shape);
        long bytes = t.numel() * dtype.byteSize();
        if (bytes > 0)
            CudaDriver.get()
                    .memsetD8Async(
                            ptr(t, "zeros").address(), (byte) 0, bytes, stream().handle());
        return t;
    }

    /** Sets every byte of {@code t} to zero (asynchronously). */
    public void zero(Tensor t, String op) {
        long bytes = t.numel() * t.dtype().byteSize();
        if (bytes > 0)
            CudaDriver.get()
                    .memsetD8Async(
                            ptr(t, op).address(), (byte) 0, bytes, stream().handle());
    }

    /** The device address of t's first element (null for a null tensor). */
    public DevicePointer ptr(Tensor t, String op) {
        if (t == null) return null;
        if (!(t.storage() instanceof CudaStorage cs)) {
            throw new IllegalArgumentException(op + ": expected a tensor on " + device() + ", got " + t.describe());
        }
        return DevicePointer.of(cs.address(op) + t.offset() * t.dtype().byteSize());
    }

    /** Checks that t is alive and lives on this backend's device. */
    public void onDevice(String op, String what, Tensor t) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " must not be null");
        t.checkAlive(op);
        if (!t.device().equals(device())) {
            throw new IllegalArgumentException(op + ": " + what + " must be on " + device() + ", got " + t.describe());
        }
    }

    /** t itself when contiguous, else a contiguous copy on this device (the caller releases it, see {@link #release}). */
    public Tensor contiguous(Tensor t) {
        if (t.isContiguous()) return t;
        Tensor c = empty(t.dtype(), t.shape());
        backend.copy(t, c);
        return c;
    }

    /**
     * t itself when it is contiguous, of {@code dtype} and starts 16-byte aligned (what the op-family launchers read),
     * else a converted contiguous copy (the caller releases it, see {@link #release}). Null stays null.
     */
    public Tensor dense(Tensor t, DType dtype) {
        if (t == null) return null;
        if (t.isContiguous() && t.dtype() == dtype && (t.offset() * dtype.byteSize()) % 16 == 0) return t;
        Tensor c = empty(dtype, t.shape());
        backend.copy(t, c);
        return c;
    }

    /** Closes a temporary made by {@link #contiguous} or {@link #dense} (not the caller's own tensor). */
    public static void release(Tensor tmp, Tensor original) {
        if (tmp != null && tmp != original && (original == null || tmp.storage() != original.storage())) tmp.close();
    }
}
