package fulgur.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/** Segments, random data and comparisons shared by the lightning tests. */
final class LightningTestSupport {

    private LightningTestSupport() {}

    static MemorySegment f32(Arena arena, long n) {
        return arena.allocate(ValueLayout.JAVA_FLOAT, n);
    }

    static MemorySegment f64(Arena arena, long n) {
        return arena.allocate(ValueLayout.JAVA_DOUBLE, n);
    }

    /** f32 segment of N(0, std²) values (never all zero). */
    static MemorySegment randomF32(Arena arena, long n, double std, SplittableRandom rnd) {
        MemorySegment s = f32(arena, n);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (std * gaussian(rnd)));
        }
        return s;
    }

    static MemorySegment randomF64(Arena arena, long n, double std, SplittableRandom rnd) {
        MemorySegment s = f64(arena, n);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, std * gaussian(rnd));
        }
        return s;
    }

    static double gaussian(SplittableRandom rnd) {
        double u = rnd.nextDouble(), v = rnd.nextDouble();
        return Math.sqrt(-2 * Math.log(1 - u)) * Math.cos(2 * Math.PI * v);
    }

    /** The f32 values widened into a new f64 segment (exactly the same numbers). */
    static MemorySegment widen(Arena arena, MemorySegment f32) {
        if (f32 == null) {
            return null;
        }
        long n = f32.byteSize() / Float.BYTES;
        MemorySegment s = f64(arena, n);
        for (long i = 0; i < n; i++) {
            s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, f32.getAtIndex(ValueLayout.JAVA_FLOAT, i));
        }
        return s;
    }

    static double[] values(MemorySegment seg, boolean f64) {
        return LightningIo.readAll(seg, f64);
    }

    /** Slice of element range [from, from+count) of an f32 or f64 segment. */
    static MemorySegment slice(MemorySegment seg, long from, long count, int bytes) {
        return seg.asSlice(from * bytes, count * bytes);
    }

    /** ‖x − ref‖₂ / ‖ref‖₂. */
    static double relErr(double[] x, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < ref.length; i++) {
            double dlt = x[i] - ref[i];
            num += dlt * dlt;
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / den);
    }

    /** max_i |x_i − ref_i| / (|ref_i| + rms(ref)): per element, relative, with the tensor's rms as floor. */
    static double elemErr(double[] x, double[] ref) {
        double rms = 0;
        for (double r : ref) {
            rms += r * r;
        }
        rms = Math.sqrt(rms / ref.length);
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            worst = Math.max(worst, Math.abs(x[i] - ref[i]) / (Math.abs(ref[i]) + rms));
        }
        return worst;
    }

    /** Asserts both the norm-relative and the floored per-element error are within {@code tol}. */
    static void assertClose(
            String what,
            MemorySegment actual,
            boolean actualF64,
            MemorySegment expected,
            boolean expectedF64,
            double tol) {
        double[] x = values(actual, actualF64);
        double[] ref = values(expected, expectedF64);
        assertThat(x).as(what + " length").hasSameSizeAs(ref);
        double norm = 0;
        for (double r : ref) {
            norm += r * r;
        }
        assertThat(norm).as(what + " reference must not be zero").isGreaterThan(0);
        for (double v : x) {
            assertThat(Double.isFinite(v)).as(what + " finite").isTrue();
        }
        assertThat(relErr(x, ref)).as(what + ": relative error of the norm").isLessThanOrEqualTo(tol);
        assertThat(elemErr(x, ref))
                .as(what + ": per-element relative error (floor rms)")
                .isLessThanOrEqualTo(tol);
    }

    /** Slopes that give exactly the decays {@code lambdas} (slope = −ln λ). */
    static double[] slopesFor(double... lambdas) {
        double[] s = new double[lambdas.length];
        for (int i = 0; i < s.length; i++) {
            s[i] = -Math.log(lambdas[i]);
        }
        return s;
    }
}
