package fulgur.cuda;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.util.Arrays;

/** Helpers of the CPU-vs-CUDA backend tests: the two backends, fresh random inputs, and comparisons. */
public final class BackendCheck {
    private BackendCheck() {}

    public static final Device GPU = Device.cuda(0);

    /** The CUDA backend (poisoning every allocation with NaN), or a skipped test without a GPU. */
    public static CudaBackend gpu() {
        GpuSupport.contextWithNvrtc();
        CudaBackend b = (CudaBackend) Backends.of(GPU);
        b.poison(true);
        return b;
    }

    public static Backend cpu() {
        return Backends.of(Device.CPU);
    }

    /** N(0, 1) values (never zero in practice) rounded to dtype, on the CPU. */
    public static Tensor randn(long seed, DType dtype, int... shape) {
        Tensor f = new Rng(seed).normal(DType.F32, 0, 1, shape);
        return dtype == DType.F32 ? f : f.to(dtype);
    }

    /** U[lo, hi) values in dtype, on the CPU. */
    public static Tensor uniform(long seed, DType dtype, double lo, double hi, int... shape) {
        Tensor f = new Rng(seed).uniform(DType.F64, lo, hi, shape);
        return f.to(dtype);
    }

    /** Integers in [0, n) as dtype (I32/I64), on the CPU. */
    public static Tensor ints(long seed, DType dtype, int n, int... shape) {
        Tensor u = new Rng(seed).uniform(DType.F64, 0, n, shape);
        double[] v = u.toDoubleArray();
        long[] l = new long[v.length];
        for (int i = 0; i < v.length; i++) l[i] = Math.min(n - 1, (long) Math.floor(v[i]));
        Tensor t = Tensor.ofLongs(l, shape.length == 0 ? new int[] {1} : shape);
        if (shape.length == 0) t = t.reshape();
        return dtype == DType.I64 ? t : t.to(dtype);
    }

    public static Tensor dev(Tensor cpu) {
        return cpu.to(GPU);
    }

    /** ‖a − ref‖ / ‖ref‖ over all elements (a NaN anywhere gives +Inf). */
    public static double relErr(double[] a, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            if (Double.isNaN(a[i]) && !Double.isNaN(ref[i])) return Double.POSITIVE_INFINITY;
            if (Double.isNaN(a[i]) && Double.isNaN(ref[i])) continue;
            if (Double.isInfinite(ref[i]) || Double.isInfinite(a[i])) {
                if (a[i] != ref[i]) return Double.POSITIVE_INFINITY;
                continue;
            }
            double d = a[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-300));
    }

    /** Asserts same dtype, shape and values within tol (relative norm); returns the error. */
    public static double assertClose(String what, Tensor gpuOut, Tensor cpuRef, double tol) {
        assertThat(gpuOut.device()).as(what + " device").isEqualTo(GPU);
        assertThat(gpuOut.dtype()).as(what + " dtype").isEqualTo(cpuRef.dtype());
        assertThat(gpuOut.shape()).as(what + " shape").isEqualTo(cpuRef.shape());
        double[] a = gpuOut.toDoubleArray();
        double[] r = cpuRef.toDoubleArray();
        double err = relErr(a, r);
        if (!(err <= tol)) {
            System.out.println(what + ": rel err " + err + " > " + tol + "\n  gpu " + head(a) + "\n  cpu " + head(r));
        }
        assertThat(err).as(what + " rel err").isLessThanOrEqualTo(tol);
        return err;
    }

    /** Exact equality (dtype, shape, values, NaNs in the same places). */
    public static void assertExact(String what, Tensor gpuOut, Tensor cpuRef) {
        assertThat(gpuOut.dtype()).as(what + " dtype").isEqualTo(cpuRef.dtype());
        assertThat(gpuOut.shape()).as(what + " shape").isEqualTo(cpuRef.shape());
        double[] a = gpuOut.toDoubleArray();
        double[] r = cpuRef.toDoubleArray();
        for (int i = 0; i < a.length; i++) {
            if (Double.compare(a[i], r[i]) != 0 && !(a[i] == 0 && r[i] == 0)) {
                throw new AssertionError(what + ": element " + i + " is " + a[i] + ", expected " + r[i]);
            }
        }
    }

    /**
     * Bit-equal arrays; on failure, how many elements differ and where the first and the largest difference are (an
     * AssertJ {@code containsExactly} of two large arrays that differ builds a diff that takes minutes).
     */
    public static void assertBitEqual(String what, double[] actual, double[] expected) {
        assertThat(actual.length).as(what + " length").isEqualTo(expected.length);
        int differ = 0, first = -1, worst = -1;
        for (int i = 0; i < actual.length; i++) {
            if (Double.compare(actual[i], expected[i]) != 0) {
                differ++;
                if (first < 0) first = i;
                if (worst < 0 || Math.abs(actual[i] - expected[i]) > Math.abs(actual[worst] - expected[worst]))
                    worst = i;
            }
        }
        if (differ > 0) {
            throw new AssertionError(String.format(
                    "%s: %d of %d elements differ; first at %d (%s vs %s), largest at %d (%s vs %s)",
                    what,
                    differ,
                    actual.length,
                    first,
                    actual[first],
                    expected[first],
                    worst,
                    actual[worst],
                    expected[worst]));
        }
    }

    /** Tolerance by dtype: f32 1e-5, bf16/f16 1e-2, f64 1e-12, integers exact. */
    public static double tol(DType d) {
        return switch (d) {
            case F32 -> 1e-5;
            case BF16, F16 -> 1e-2;
            case F64 -> 1e-12;
            default -> 0;
        };
    }

    static String head(double[] a) {
        return Arrays.toString(Arrays.copyOf(a, Math.min(8, a.length)));
    }
}
