package fulgur.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.DoubleBinaryOperator;
import java.util.function.DoubleUnaryOperator;

/**
 * The naive f64 oracle of the op tests: row-major double arrays, plain loops, broadcasting by index arithmetic, and
 * dtype rounding written from the definitions (not from the runtime's code). Tensors are read element by element
 * through their strides ({@link Tensor#getFlat}), so no kernel takes part in reading a result.
 */
public final class Ref {
    private Ref() {}

    /** A row-major array of doubles with a shape. */
    public record Nd(double[] v, int[] shape) {
        public Nd {
            if (numel(shape) != v.length) {
                throw new IllegalArgumentException(v.length + " values for shape " + Arrays.toString(shape));
            }
        }

        public static Nd zeros(int... shape) {
            return new Nd(new double[(int) numel(shape)], shape);
        }

        public double at(int... idx) {
            return v[(int) ravel(idx, shape)];
        }

        public void set(double value, int... idx) {
            v[(int) ravel(idx, shape)] = value;
        }

        public int ndim() {
            return shape.length;
        }

        public int size() {
            return v.length;
        }

        @Override
        public String toString() {
            return "Nd" + Arrays.toString(shape) + (v.length <= 16 ? Arrays.toString(v) : "");
        }
    }

    // ------------------------------------------------------------------ shapes and indices

    public static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    public static int[] unravel(long flat, int[] shape) {
        int[] idx = new int[shape.length];
        for (int i = shape.length - 1; i >= 0; i--) {
            idx[i] = (int) (flat % shape[i]);
            flat /= shape[i];
        }
        return idx;
    }

    public static long ravel(int[] idx, int[] shape) {
        long f = 0;
        for (int i = 0; i < shape.length; i++) {
            if (idx[i] < 0 || idx[i] >= shape[i]) {
                throw new IndexOutOfBoundsException(Arrays.toString(idx) + " in " + Arrays.toString(shape));
            }
            f = f * shape[i] + idx[i];
        }
        return f;
    }

    /** numpy broadcasting written out; null when the shapes are incompatible. */
    public static int[] broadcastShape(int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] r = new int[n];
        for (int i = 0; i < n; i++) {
            int ia = a.length - n + i;
            int ib = b.length - n + i;
            int da = ia >= 0 ? a[ia] : 1;
            int db = ib >= 0 ? b[ib] : 1;
            if (da == db || db == 1) {
                r[i] = da;
            } else if (da == 1) {
                r[i] = db;
            } else {
                return null;
            }
        }
        return r;
    }

    /** The element of a that lands at position idx of a broadcast shape (right-aligned; size-1 dims repeat). */
    public static double atBroadcast(Nd a, int[] idx) {
        int lead = idx.length - a.shape.length;
        long f = 0;
        for (int i = 0; i < a.shape.length; i++) {
            int d = a.shape[i];
            f = f * d + (d == 1 ? 0 : idx[lead + i]);
        }
        return a.v[(int) f];
    }

    public static Nd broadcastTo(Nd a, int[] shape) {
        Nd r = Nd.zeros(shape);
        for (int i = 0; i < r.size(); i++) {
            r.v[i] = atBroadcast(a, unravel(i, shape));
        }
        return r;
    }

    // ------------------------------------------------------------------ random data

    public static double[] normal(long seed, int n, double std) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller written here so that the data does not depend on fulgur.tensor.Rng
            double u1 = 1 - r.nextDouble();
            double u2 = r.nextDouble();
            v[i] = std * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
        }
        return v;
    }

    public static double[] uniform(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = lo + (hi - lo) * r.nextDouble();
        }
        return v;
    }

    public static long[] ints(long seed, int n, int bound) {
        SplittableRandom r = new SplittableRandom(seed);
        long[] v = new long[n];
        for (int i = 0; i < n; i++) {
            v[i] = r.nextInt(bound);
        }
        return v;
    }

    public static Nd randn(long seed, int... shape) {
        return new Nd(normal(seed, (int) numel(shape), 1), shape);
    }

    // ------------------------------------------------------------------ dtype rounding (from the definitions)

    /** v rounded to the nearest value of dtype (ties to even), as a double. */
    public static double round(DType dt, double v) {
        return switch (dt) {
            case F64 -> v;
            case F32 -> (float) v;
            case BF16 -> roundBinary(v, 8, -126, 0x1.fep127);
            case F16 -> roundBinary(v, 11, -14, 65504.0);
            case I32 -> (int) v;
            case I64 -> (long) v;
            case I8 -> Math.max(-128, Math.min(127, (int) v));
        };
    }

    public static double[] round(DType dt, double[] v) {
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            r[i] = round(dt, v[i]);
        }
        return r;
    }

    public static Nd round(DType dt, Nd a) {
        return new Nd(round(dt, a.v), a.shape);
    }

    /**
     * Round-to-nearest-even of v to a binary format with {@code precision} significand bits, minimum normal exponent
     * {@code emin} (gradual underflow below) and largest finite value {@code max} (overflow to infinity).
     */
    static double roundBinary(double v, int precision, int emin, double max) {
        if (Double.isNaN(v) || Double.isInfinite(v) || v == 0) {
            return v;
        }
        int e = Math.max(Math.getExponent(v), emin);
        double ulp = Math.scalb(1.0, e - (precision - 1));
        double r = Math.rint(v / ulp) * ulp; // v / ulp is exact (a power-of-two scaling); rint ties to even
        if (Math.abs(r) > max) {
            return Math.copySign(Double.POSITIVE_INFINITY, v);
        }
        return r;
    }

    // ------------------------------------------------------------------ tensors in several memory layouts

    /** How a test tensor is laid out in memory: its logical content is the same in every layout. */
    public enum Layout {
        /** Row-major, offset 0. */
        CONTIGUOUS,
        /** A permuted view of storage in reversed axis order (a stride-2 view for 1-D). */
        TRANSPOSED,
        /** A window into a larger tensor: offset and padded strides on every axis. */
        NARROWED
    }

    /** A tensor of dtype with the given row-major values (which should be representable in dtype) and layout. */
    public static Tensor make(DType dt, double[] data, int[] shape, Layout layout) {
        int nd = shape.length;
        if (data.length != numel(shape)) {
            throw new IllegalArgumentException(data.length + " values for " + Arrays.toString(shape));
        }
        switch (layout) {
            case CONTIGUOUS -> {
                return Tensor.of(dt, data, shape);
            }
            case TRANSPOSED -> {
                if (nd == 0) {
                    return make(dt, data, shape, Layout.NARROWED);
                }
                if (nd == 1) {
                    double[] p = new double[data.length * 2];
                    for (int i = 0; i < data.length; i++) {
                        p[2 * i] = data[i];
                        p[2 * i + 1] = Double.NaN;
                    }
                    return Tensor.of(dt, p, data.length, 2).select(1, 0);
                }
                int[] rev = new int[nd];
                int[] axes = new int[nd];
                for (int i = 0; i < nd; i++) {
                    rev[i] = shape[nd - 1 - i];
                    axes[i] = nd - 1 - i;
                }
                double[] p = new double[data.length];
                int[] ridx = new int[nd];
                for (int f = 0; f < data.length; f++) {
                    int[] idx = unravel(f, shape);
                    for (int i = 0; i < nd; i++) {
                        ridx[i] = idx[nd - 1 - i];
                    }
                    p[(int) ravel(ridx, rev)] = data[f];
                }
                return Tensor.of(dt, p, rev).permute(axes);
            }
            case NARROWED -> {
                int[] big = new int[nd];
                for (int i = 0; i < nd; i++) {
                    big[i] = shape[i] + (i % 2 == 0 ? 3 : 2);
                }
                double[] p = new double[(int) numel(big)];
                Arrays.fill(p, Double.NaN);
                int[] bidx = new int[nd];
                for (int f = 0; f < data.length; f++) {
                    int[] idx = unravel(f, shape);
                    for (int i = 0; i < nd; i++) {
                        bidx[i] = idx[i] + (i % 2 == 0 ? 2 : 1);
                    }
                    p[(int) ravel(bidx, big)] = data[f];
                }
                if (nd == 0) {
                    return Tensor.of(dt, new double[] {Double.NaN, data[0], Double.NaN}, 3)
                            .select(0, 1);
                }
                Tensor t = Tensor.of(dt, p, big);
                for (int i = 0; i < nd; i++) {
                    t = t.narrow(i, i % 2 == 0 ? 2 : 1, shape[i]);
                }
                return t;
            }
            default -> throw new IllegalStateException();
        }
    }

    public static Tensor make(DType dt, Nd a, Layout layout) {
        return make(dt, a.v, a.shape, layout);
    }

    /** The values of t in row-major order, read through its strides. */
    public static Nd read(Tensor t) {
        double[] v = new double[(int) t.numel()];
        for (int i = 0; i < v.length; i++) {
            v[i] = t.getFlat(i);
        }
        return new Nd(v, t.shape());
    }

    // ------------------------------------------------------------------ reference math

    public static Nd map(Nd a, DoubleUnaryOperator f) {
        double[] r = new double[a.v.length];
        for (int i = 0; i < r.length; i++) {
            r[i] = f.applyAsDouble(a.v[i]);
        }
        return new Nd(r, a.shape);
    }

    /** f(a, b) elementwise with numpy broadcasting. */
    public static Nd zip(Nd a, Nd b, DoubleBinaryOperator f) {
        int[] s = broadcastShape(a.shape, b.shape);
        if (s == null) {
            throw new IllegalArgumentException(
                    "incompatible " + Arrays.toString(a.shape) + " " + Arrays.toString(b.shape));
        }
        Nd r = Nd.zeros(s);
        for (int i = 0; i < r.size(); i++) {
            int[] idx = unravel(i, s);
            r.v[i] = f.applyAsDouble(atBroadcast(a, idx), atBroadcast(b, idx));
        }
        return r;
    }

    /** A function of the values along the reduced axes. */
    @FunctionalInterface
    public interface Reducer {
        double apply(double[] values);
    }

    /** Reduces the given axes (any order, distinct) with f; keepDim keeps them as size 1. */
    public static Nd reduce(Nd a, int[] axes, boolean keepDim, Reducer fn) {
        int nd = a.ndim();
        boolean[] red = new boolean[nd];
        for (int ax : axes) {
            red[ax < 0 ? ax + nd : ax] = true;
        }
        int[] kept = a.shape.clone();
        int outRank = 0;
        int count = 1;
        for (int i = 0; i < nd; i++) {
            if (red[i]) {
                kept[i] = 1;
                count *= a.shape[i];
            }
            if (!red[i] || keepDim) {
                outRank++;
            }
        }
        int[] outShape = new int[outRank];
        for (int i = 0, k = 0; i < nd; i++) {
            if (!red[i] || keepDim) {
                outShape[k++] = kept[i];
            }
        }
        double[][] groups = new double[(int) numel(kept)][count];
        int[] fill = new int[groups.length];
        for (int f = 0; f < a.size(); f++) {
            int[] idx = unravel(f, a.shape);
            for (int i = 0; i < nd; i++) {
                if (red[i]) {
                    idx[i] = 0;
                }
            }
            int g = (int) ravel(idx, kept);
            groups[g][fill[g]++] = a.v[f];
        }
        double[] r = new double[groups.length];
        for (int g = 0; g < r.length; g++) {
            r[g] = fn.apply(groups[g]);
        }
        return new Nd(r, outShape);
    }

    public static double sum(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s;
    }

    public static double sumAbs(double[] v) {
        double s = 0;
        for (double x : v) {
            s += Math.abs(x);
        }
        return s;
    }

    public static double logSumExp(double[] v) {
        double m = Double.NEGATIVE_INFINITY;
        for (double x : v) {
            m = Math.max(m, x);
        }
        if (Double.isInfinite(m)) {
            return m;
        }
        double s = 0;
        for (double x : v) {
            s += Math.exp(x - m);
        }
        return m + Math.log(s);
    }

    /** Batched a [..., M, K] · b [..., K, N] with broadcast batch dimensions (both at least 2-D). */
    public static Nd matmul(Nd a, Nd b) {
        int ar = a.ndim();
        int br = b.ndim();
        int m = a.shape[ar - 2];
        int k = a.shape[ar - 1];
        int n = b.shape[br - 1];
        if (b.shape[br - 2] != k) {
            throw new IllegalArgumentException("inner dims");
        }
        int[] aBatch = Arrays.copyOf(a.shape, ar - 2);
        int[] bBatch = Arrays.copyOf(b.shape, br - 2);
        int[] batch = broadcastShape(aBatch, bBatch);
        int[] outShape = Arrays.copyOf(batch, batch.length + 2);
        outShape[batch.length] = m;
        outShape[batch.length + 1] = n;
        Nd r = Nd.zeros(outShape);
        Nd aIdx = new Nd(iota((int) numel(aBatch)), aBatch);
        Nd bIdx = new Nd(iota((int) numel(bBatch)), bBatch);
        for (int p = 0; p < numel(batch); p++) {
            int[] bi = unravel(p, batch);
            int ao = (int) atBroadcast(aIdx, bi) * m * k;
            int bo = (int) atBroadcast(bIdx, bi) * k * n;
            int co = p * m * n;
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int q = 0; q < k; q++) {
                        s += a.v[ao + i * k + q] * b.v[bo + q * n + j];
                    }
                    r.v[co + i * n + j] = s;
                }
            }
        }
        return r;
    }

    private static double[] iota(int n) {
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = i;
        }
        return v;
    }

    /** The same contraction with |a|·|b|: the natural error scale of a floating-point matmul. */
    public static Nd matmulAbs(Nd a, Nd b) {
        return matmul(map(a, Math::abs), map(b, Math::abs));
    }

    /** The axes of a reordered: result dimension i is a's dimension perm[i]. */
    public static Nd permute(Nd a, int... perm) {
        int[] s = new int[perm.length];
        for (int i = 0; i < perm.length; i++) {
            s[i] = a.shape[perm[i]];
        }
        Nd r = Nd.zeros(s);
        int[] src = new int[perm.length];
        for (int f = 0; f < r.size(); f++) {
            int[] idx = unravel(f, s);
            for (int i = 0; i < perm.length; i++) {
                src[perm[i]] = idx[i];
            }
            r.v[f] = a.at(src);
        }
        return r;
    }

    /**
     * Applies f to every 1-D slice along axis of the arrays (all of one shape): f gets the slices, one per array, and
     * returns the result slice (of the same length).
     */
    public static Nd alongAxis(int axis, java.util.function.Function<double[][], double[]> f, Nd... arrays) {
        Nd a = arrays[0];
        int nd = a.ndim();
        int ax = axis < 0 ? axis + nd : axis;
        int len = a.shape[ax];
        Nd r = Nd.zeros(a.shape);
        int[] outer = a.shape.clone();
        outer[ax] = 1;
        for (int o = 0; o < numel(outer); o++) {
            int[] idx = unravel(o, outer);
            double[][] slices = new double[arrays.length][len];
            for (int i = 0; i < len; i++) {
                idx[ax] = i;
                for (int k = 0; k < arrays.length; k++) {
                    slices[k][i] = arrays[k].at(idx);
                }
            }
            double[] out = f.apply(slices);
            for (int i = 0; i < len; i++) {
                idx[ax] = i;
                r.set(out[i], idx);
            }
        }
        return r;
    }

    public static Nd alongAxis(Nd a, int axis, java.util.function.UnaryOperator<double[]> f) {
        return alongAxis(axis, s -> f.apply(s[0]), a);
    }

    public static double[] softmax(double[] x) {
        double lse = logSumExp(x);
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            r[i] = Math.exp(x[i] - lse);
        }
        return r;
    }

    public static double[] logSoftmax(double[] x) {
        double lse = logSumExp(x);
        double[] r = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            r[i] = x[i] - lse;
        }
        return r;
    }

    /** Swaps the last two axes. */
    public static Nd transposeLast(Nd a) {
        int nd = a.ndim();
        int[] s = a.shape.clone();
        s[nd - 1] = a.shape[nd - 2];
        s[nd - 2] = a.shape[nd - 1];
        Nd r = Nd.zeros(s);
        for (int f = 0; f < a.size(); f++) {
            int[] idx = unravel(f, a.shape);
            int t = idx[nd - 1];
            idx[nd - 1] = idx[nd - 2];
            idx[nd - 2] = t;
            r.set(a.v[f], idx);
        }
        return r;
    }

    /** erf by composite Simpson integration of 2/√π·e^(−t²) over [0, x] (accurate to ~1e-14 for |x| ≤ 8). */
    public static double erf(double x) {
        double ax = Math.min(Math.abs(x), 8);
        int n = 4000;
        double h = ax / n;
        double s = 1 + Math.exp(-ax * ax);
        for (int i = 1; i < n; i++) {
            double t = i * h;
            s += (i % 2 == 1 ? 4 : 2) * Math.exp(-t * t);
        }
        return Math.copySign(s * h / 3 * 2 / Math.sqrt(Math.PI), x);
    }

    // ------------------------------------------------------------------ assertions

    /**
     * Relative tolerance of results computed in dtype from inputs exactly representable in it: a few rounding errors
     * for f32 and f64; for bf16 and f16 (compared with the reference rounded to the format) one unit in the last place.
     */
    public static double rtol(DType dt) {
        return switch (dt) {
            case F64 -> 1e-12;
            case F32 -> 1e-5;
            case BF16 -> 0x1p-7; // one unit in the last place of bf16 (8 significant bits)
            case F16 -> 0x1p-10;
            default -> 0;
        };
    }

    /** The absolute floor that goes with {@link #rtol} for values of order one. */
    public static double atol(DType dt) {
        return switch (dt) {
            case F64 -> 1e-12;
            case F32 -> 1e-6;
            case BF16, F16 -> 1e-6;
            default -> 0;
        };
    }

    public static void assertClose(String what, Tensor actual, Nd expected, double rtol, double atol) {
        assertThat(actual.shape()).as("%s: shape", what).isEqualTo(expected.shape);
        assertClose(what, read(actual), expected, rtol, atol);
    }

    public static void assertClose(String what, Tensor actual, Nd expected, DType precision) {
        assertClose(what, actual, expected, rtol(precision), atol(precision));
    }

    /** |actual − expected| ≤ atol + rtol·|expected| element by element (NaN matches NaN, ±∞ matches itself). */
    public static void assertClose(String what, Nd actual, Nd expected, double rtol, double atol) {
        assertThat(actual.shape).as("%s: shape", what).isEqualTo(expected.shape);
        for (int i = 0; i < expected.size(); i++) {
            double a = actual.v[i];
            double e = expected.v[i];
            boolean ok = a == e || (Double.isNaN(a) && Double.isNaN(e)) || Math.abs(a - e) <= atol + rtol * Math.abs(e);
            if (!ok) {
                fail(
                        "%s: element %s of %s is %s, expected %s (|diff| %.3g > atol %.1g + rtol %.1g·|expected|)",
                        what,
                        Arrays.toString(unravel(i, expected.shape)),
                        Arrays.toString(expected.shape),
                        a,
                        e,
                        Math.abs(a - e),
                        atol,
                        rtol);
            }
        }
    }

    /** |actual − expected| ≤ rtol·(|expected| + scale) element by element: scale carries the op's own error scale. */
    public static void assertWithin(String what, Tensor actual, Nd expected, Nd scale, double rtol) {
        assertThat(actual.shape()).as("%s: shape", what).isEqualTo(expected.shape);
        Nd a = read(actual);
        for (int i = 0; i < expected.size(); i++) {
            double bound = rtol * (Math.abs(expected.v[i]) + scale.v[i]) + Double.MIN_NORMAL;
            if (!(Math.abs(a.v[i] - expected.v[i]) <= bound)) {
                fail(
                        "%s: element %s of %s is %s, expected %s (|diff| %.3g > %.3g)",
                        what,
                        Arrays.toString(unravel(i, expected.shape)),
                        Arrays.toString(expected.shape),
                        a.v[i],
                        expected.v[i],
                        Math.abs(a.v[i] - expected.v[i]),
                        bound);
            }
        }
    }

    /** Exact equality of values (for data movement: copies, views, gathers). */
    public static void assertEqual(String what, Tensor actual, Nd expected) {
        assertClose(what, actual, expected, 0, 0);
    }
}
