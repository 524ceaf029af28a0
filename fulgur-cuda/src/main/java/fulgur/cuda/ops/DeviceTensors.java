package fulgur.cuda.ops;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStorage;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.driver.CudaDriver;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/**
 * What the op-family launchers ({@code fulgur.cuda.ops.gla}, {@code .lightnet}, {@code .lcsm}, {@code .conv}) share:
 * one device's context and the stream their kernels are enqueued on, output tensors allocated stream-ordered from the
 * caching allocator (optionally filled with NaN bytes so tests see unwritten elements), device addresses of input
 * tensors, and scratch buffers.
 */
public final class DeviceTensors {
    private final CudaContext ctx;
    private final CudaStream stream;
    private final Device device;
    private volatile boolean poison;

    public DeviceTensors(CudaContext ctx, CudaStream stream, Device device) {
        this.ctx = ctx;
        this.stream = stream;
        this.device = device;
    }

    /** The backend's context and stream, so the launches are ordered with its other ops. */
    public static DeviceTensors of(CudaBackend backend) {
        return new DeviceTensors(backend.context(), backend.stream(), backend.device());
    }

    public CudaContext context() {
        return ctx;
    }

    public CudaStream stream() {
        return stream;
    }

    public Device device() {
        return device;
    }

    /** Fill every new output with 0xFF bytes (NaN), so that an element no kernel wrote shows. */
    public DeviceTensors poison(boolean on) {
        this.poison = on;
        return this;
    }

    public Tensor alloc(DType dtype, int... shape) {
        Shape.check("alloc", shape);
        long bytes = Math.multiplyExact(Shape.numel(shape), (long) dtype.byteSize());
        ctx.bind();
        DeviceBuffer buf = ctx.allocate(Math.max(bytes, 1), stream);
        if (poison && bytes > 0) CudaDriver.get().memsetD8Async(buf.address(), (byte) 0xFF, bytes, stream.handle());
        return Tensor.wrap(new CudaStorage(device, buf), dtype, shape);
    }

    /** Scratch device memory, handed back stream-ordered when closed. */
    public DeviceBuffer scratch(long bytes) {
        ctx.bind();
        return ctx.allocate(Math.max(bytes, 16), stream);
    }

    public void zero(DevicePointer p, long bytes) {
        if (bytes > 0) CudaDriver.get().memsetD8Async(p.address(), (byte) 0, bytes, stream.handle());
    }

    /** The device address of t's first element; t must live on this device. */
    public DevicePointer ptr(Tensor t, String op) {
        if (t == null) return null;
        if (!(t.storage() instanceof CudaStorage cs) || !t.device().equals(device)) {
            throw new IllegalArgumentException(op + ": expected a tensor on " + device + ", got " + t.describe());
        }
        return DevicePointer.of(cs.address(op) + t.offset() * t.dtype().byteSize());
    }

    /** Checks that t (when not null) is on this device and contiguous, with its first element 16-byte aligned. */
    public void requireDense(String op, String name, Tensor t) {
        if (t == null) return;
        t.checkAlive(op);
        if (!t.device().equals(device)) {
            throw new IllegalArgumentException(op + ": " + name + " must be on " + device + ", got " + t.describe());
        }
        if (!t.isContiguous())
            throw new IllegalArgumentException(op + ": " + name + " must be contiguous, got " + t.describe());
        if ((t.offset() * t.dtype().byteSize()) % 16 != 0) {
            throw new IllegalArgumentException(op + ": " + name
                    + " must start 16-byte aligned (a tensor of its own, not an offset view), got " + t.describe());
        }
    }
}
