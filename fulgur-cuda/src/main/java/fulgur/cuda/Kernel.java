package fulgur.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_DOUBLE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A kernel of a loaded module. {@link #launch} checks the Java arguments against the declared parameter
 * list (count and kind) before the driver sees them.
 */
public final class Kernel {
    private final KernelModule module;
    private final MemorySegment function;
    private final KernelSignature signature;
    private int dynamicSmemLimit = 48 * 1024;

    Kernel(KernelModule module, MemorySegment function, KernelSignature signature) {
        this.module = module;
        this.function = function;
        this.signature = signature;
    }

    /** {@return the kernel's name} */
    public String name() {
        return signature.name();
    }

    /** {@return its declared parameters} */
    public KernelSignature signature() {
        return signature;
    }

    /** {@return the driver's function handle} */
    public MemorySegment function() {
        return function;
    }

    /**
     * Registers per thread, as compiled.
     *
     * @return the count
     */
    public int registers() {
        return CudaDriver.get().funcGetAttribute(CudaDriver.FUNC_NUM_REGS, function);
    }

    /**
     * Local (spill) memory per thread in bytes.
     *
     * @return the bytes
     */
    public int localBytes() {
        return CudaDriver.get().funcGetAttribute(CudaDriver.FUNC_LOCAL_SIZE_BYTES, function);
    }

    /**
     * Static shared memory per block in bytes.
     *
     * @return the bytes
     */
    public int staticSharedBytes() {
        return CudaDriver.get().funcGetAttribute(CudaDriver.FUNC_SHARED_SIZE_BYTES, function);
    }

    /**
     * Raises the dynamic shared memory limit (needed above 48 KiB).
     *
     * @param bytes the dynamic shared memory per block
     * @throws IllegalArgumentException when the device allows less
     */
    public synchronized void ensureDynamicShared(int bytes) {
        if (bytes > dynamicSmemLimit) {
            int max = module.context().device().maxSharedPerBlockOptin();
            if (bytes > max) {
                throw new IllegalArgumentException(
                        "kernel " + name() + " needs " + bytes + " bytes of shared memory; the device allows " + max);
            }
            CudaDriver.get().funcSetAttribute(function, CudaDriver.FUNC_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes);
            dynamicSmemLimit = bytes;
        }
    }

    /**
     * Launches on {@code stream} with grid (gx,gy,gz), block (bx,1,1) and {@code smem} bytes of dynamic shared memory.
     *
     * @param stream the stream
     * @param gx grid x
     * @param gy grid y
     * @param gz grid z
     * @param bx block x
     * @param smem dynamic shared memory, bytes
     * @param args the arguments, checked against the signature
     * @throws IllegalArgumentException when the grid is empty or too large, or the arguments do not fit
     */
    public void launch(CudaStream stream, int gx, int gy, int gz, int bx, int smem, Object... args) {
        launch(stream, gx, gy, gz, bx, 1, 1, smem, args);
    }

    /**
     * Launches on {@code stream} with grid (gx,gy,gz), block (bx,by,bz) and {@code smem} bytes of dynamic shared memory.
     *
     * @param stream the stream
     * @param gx grid x
     * @param gy grid y, ≤ 65535
     * @param gz grid z, ≤ 65535
     * @param bx block x
     * @param by block y
     * @param bz block z
     * @param smem dynamic shared memory, bytes
     * @param args the arguments, checked against the signature
     * @throws IllegalArgumentException when the grid is empty or too large, or the arguments do not fit
     */
    public void launch(CudaStream stream, int gx, int gy, int gz, int bx, int by, int bz, int smem, Object... args) {
        signature.check(args);
        if (gx <= 0 || gy <= 0 || gz <= 0 || bx <= 0 || by <= 0 || bz <= 0) {
            throw new IllegalArgumentException("kernel " + name() + ": empty launch grid (" + gx + "," + gy + "," + gz
                    + ") x (" + bx + "," + by + "," + bz + ")");
        }
        if (gy > 65535 || gz > 65535) {
            throw new IllegalArgumentException(
                    "kernel " + name() + ": grid y/z must be <= 65535, got " + gy + "/" + gz);
        }
        ensureDynamicShared(smem);
        module.context().bind();
        try (Arena a = Arena.ofConfined()) {
            int n = args.length;
            MemorySegment ptrs = a.allocate(ADDRESS, Math.max(1, n));
            for (int i = 0; i < n; i++) {
                Object v = args[i];
                MemorySegment slot;
                switch (signature.params().get(i).kind()) {
                    case POINTER -> slot = a.allocateFrom(JAVA_LONG, v == null ? 0L : ((DevicePointer) v).address());
                    case INT -> slot = a.allocateFrom(JAVA_INT, (Integer) v);
                    case LONG -> slot = a.allocateFrom(JAVA_LONG, (Long) v);
                    case FLOAT -> slot = a.allocateFrom(JAVA_FLOAT, (Float) v);
                    case DOUBLE -> slot = a.allocateFrom(JAVA_DOUBLE, (Double) v);
                    case STRUCT -> {
                        byte[] b = ((KernelStruct) v).bytes();
                        slot = a.allocate(b.length, 16);
                        MemorySegment.copy(b, 0, slot, java.lang.foreign.ValueLayout.JAVA_BYTE, 0, b.length);
                    }
                    default -> throw new IllegalStateException();
                }
                ptrs.setAtIndex(ADDRESS, i, slot);
            }
            Object mark = KernelProfiler.enabled() ? KernelProfiler.begin(stream) : null;
            CudaDriver.get().launchKernel(function, gx, gy, gz, bx, by, bz, smem, stream.handle(), ptrs, name());
            if (mark != null) KernelProfiler.end(mark, name(), stream);
        }
    }

    @Override
    public String toString() {
        return signature.toString();
    }
}
