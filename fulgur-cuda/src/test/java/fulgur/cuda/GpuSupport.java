package fulgur.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import fulgur.cuda.nvrtc.Nvrtc;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Helpers for tests tagged "gpu": skip (assumption) when no driver/device/NVRTC is present; bf16 codecs. */
public final class GpuSupport {
    private GpuSupport() {}

    private static Boolean gpu, nvrtc;

    public static synchronized CudaContext context() {
        if (gpu == null) gpu = CudaContext.isAvailable();
        assumeTrue(gpu, "no CUDA driver or device: GPU test skipped");
        return CudaContext.get(0);
    }

    /** The context, also assuming NVRTC can be opened. */
    public static synchronized CudaContext contextWithNvrtc() {
        CudaContext c = context();
        if (nvrtc == null) {
            try {
                Nvrtc.get().version();
                nvrtc = true;
            } catch (RuntimeException e) {
                System.err.println("NVRTC unavailable: " + e.getMessage());
                nvrtc = false;
            }
        }
        assumeTrue(nvrtc, "NVRTC not available: GPU kernel test skipped");
        return c;
    }

    public static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) 0x7FC0;
        int rounded = bits + 0x7FFF + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    public static float fromBf16(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    public static float roundBf16(float f) {
        return fromBf16(toBf16(f));
    }

    /** n uniform values in [lo,hi), rounded to bf16. */
    public static float[] randomBf16(SplittableRandom r, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = roundBf16(lo + (hi - lo) * (float) r.nextDouble());
        return a;
    }

    public static float[] randomF32(SplittableRandom r, int n, float lo, float hi) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * (float) r.nextDouble();
        return a;
    }

    public static DeviceBuffer uploadBf16(CudaContext ctx, float[] a) {
        DeviceBuffer d = ctx.allocate(2L * a.length, CudaStream.DEFAULT);
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment h = ar.allocate(2L * a.length);
            for (int i = 0; i < a.length; i++) h.setAtIndex(ValueLayout.JAVA_SHORT, i, toBf16(a[i]));
            d.copyFromHost(h);
        }
        return d;
    }

    public static DeviceBuffer uploadF32(CudaContext ctx, float[] a) {
        DeviceBuffer d = ctx.allocate(4L * a.length, CudaStream.DEFAULT);
        try (Arena ar = Arena.ofConfined()) {
            d.copyFromHost(ar.allocateFrom(ValueLayout.JAVA_FLOAT, a));
        }
        return d;
    }

    public static float[] downloadBf16(DevicePointer d, int n) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment h = ar.allocate(2L * n);
            fulgur.cuda.driver.CudaDriver.get().memcpyDtoH(h, d.address(), 2L * n);
            float[] a = new float[n];
            for (int i = 0; i < n; i++) a[i] = fromBf16(h.getAtIndex(ValueLayout.JAVA_SHORT, i));
            return a;
        }
    }

    public static float[] downloadF32(DevicePointer d, int n) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment h = ar.allocate(4L * n);
            fulgur.cuda.driver.CudaDriver.get().memcpyDtoH(h, d.address(), 4L * n);
            return h.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** ||a - ref|| / ||ref||; NaN/Inf anywhere in a gives +Inf. */
    public static double relErr(float[] a, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            if (!Float.isFinite(a[i])) return Double.POSITIVE_INFINITY;
            double d = a[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-300));
    }

    public static int countNonFinite(float[] a) {
        int c = 0;
        for (float f : a) if (!Float.isFinite(f)) c++;
        return c;
    }
}
