package fulgur.cuda.ops;

import static org.assertj.core.api.Assertions.fail;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Compares several outputs of one kernel run with their references and fails once with every comparison in the
 * message: per output the relative L2 error ‖got − ref‖ / ‖ref‖ against its tolerance, the count of non-finite
 * values, and the first element (with its coordinates) that is non-finite or far from the reference.
 */
public final class OutputCheck {
    private final String header;
    private final List<String> lines = new ArrayList<>();
    private boolean failed;

    public OutputCheck(String header) {
        this.header = header;
    }

    /** ‖got − ref‖ / ‖ref‖; infinities must match exactly (−inf log-sum-exp rows); a NaN gives +Inf. */
    public static double relErr(double[] got, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < got.length; i++) {
            if (Double.isInfinite(ref[i]) || Double.isInfinite(got[i]) || Double.isNaN(got[i])) {
                if (got[i] != ref[i]) return Double.POSITIVE_INFINITY;
                continue;
            }
            double d = got[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
        }
        if (den == 0) return Math.sqrt(num);
        return Math.sqrt(num / den);
    }

    /** Compares one output of {@code shape} (row-major) at relative tolerance {@code tol}; returns the error. */
    public double add(String name, double[] got, double[] ref, double tol, int... shape) {
        if (got.length != ref.length) {
            failed = true;
            lines.add(String.format("  %-8s FAIL length %d, expected %d", name, got.length, ref.length));
            return Double.POSITIVE_INFINITY;
        }
        double err = relErr(got, ref);
        int nonFinite = 0;
        double ss = 0;
        int finiteRef = 0;
        for (int i = 0; i < got.length; i++) {
            if (!Double.isFinite(got[i]) && Double.isFinite(ref[i])) nonFinite++;
            if (Double.isFinite(ref[i])) {
                ss += ref[i] * ref[i];
                finiteRef++;
            }
        }
        double rms = Math.sqrt(ss / Math.max(1, finiteRef));
        int first = -1;
        for (int i = 0; i < got.length && first < 0; i++) {
            boolean bad = Double.isInfinite(ref[i])
                    ? got[i] != ref[i]
                    : !Double.isFinite(got[i])
                            || Math.abs(got[i] - ref[i]) > 20 * tol * Math.max(rms, Math.abs(ref[i]));
            if (bad) first = i;
        }
        boolean ok = err <= tol;
        if (!ok) failed = true;
        StringBuilder sb = new StringBuilder(
                String.format("  %-8s %s rel err %.3e (tol %.0e)", name, ok ? "ok  " : "FAIL", err, tol));
        if (nonFinite > 0) sb.append(String.format(", %d non-finite", nonFinite));
        if (first >= 0) {
            sb.append(String.format(
                    ", first mismatch at %s: got %.6g, expected %.6g", coords(first, shape), got[first], ref[first]));
        }
        lines.add(sb.toString());
        return err;
    }

    /**
     * Compares an output whose exact value comes from terms that cancel: passes when ‖got − ref‖ ≤ tol·‖ref‖ +
     * floor·‖scale‖, {@code scale} being the output computed with the magnitudes of those terms (so {@code floor} is a
     * rounding bound relative to what cancelled, a few hundred ulps of the arithmetic's precision). Where nothing cancels,
     * ‖scale‖ ≈ ‖ref‖ and the check is the plain relative one; where the exact value is ~0 it is an absolute bound.
     */
    public double addCancelling(
            String name, double[] got, double[] ref, double[] scale, double tol, double floor, int... shape) {
        double num = 0, den = 0, sc = 0;
        int nonFinite = 0, first = -1;
        for (int i = 0; i < got.length; i++) {
            if (!Double.isFinite(got[i])) nonFinite++;
            double d = got[i] - ref[i];
            num += d * d;
            den += ref[i] * ref[i];
            sc += scale[i] * scale[i];
        }
        double rms = Math.sqrt(den / Math.max(1, got.length));
        for (int i = 0; i < got.length && first < 0; i++) {
            if (!Double.isFinite(got[i])
                    || Math.abs(got[i] - ref[i])
                            > 20 * (tol * Math.max(rms, Math.abs(ref[i])) + floor * Math.abs(scale[i]))) first = i;
        }
        double diff = Math.sqrt(num), bound = tol * Math.sqrt(den) + floor * Math.sqrt(sc);
        boolean ok = got.length == ref.length && nonFinite == 0 && diff <= bound;
        if (!ok) failed = true;
        double err = den > 0 ? diff / Math.sqrt(den) : diff;
        StringBuilder sb = new StringBuilder(String.format(
                "  %-8s %s rel err %.3e (tol %.0e; |got-ref| %.3e <= %.0e |ref| + %.0e |cancelled terms| = %.3e)",
                name, ok ? "ok  " : "FAIL", err, tol, diff, tol, floor, bound));
        if (nonFinite > 0) sb.append(String.format(", %d non-finite", nonFinite));
        if (first >= 0)
            sb.append(String.format(
                    ", first mismatch at %s: got %.6g, expected %.6g", coords(first, shape), got[first], ref[first]));
        lines.add(sb.toString());
        return err;
    }

    /** Compares integers exactly (routing decisions). */
    public void exact(String name, int[] got, int[] ref) {
        int first = -1;
        if (got.length == ref.length) {
            for (int i = 0; i < got.length && first < 0; i++) if (got[i] != ref[i]) first = i;
        }
        boolean ok = got.length == ref.length && first < 0;
        if (!ok) failed = true;
        lines.add(String.format(
                "  %-8s %s%s",
                name,
                ok ? "ok   exact" : "FAIL",
                ok
                        ? ""
                        : got.length != ref.length
                                ? " length " + got.length + ", expected " + ref.length
                                : " first difference at " + first + ": got " + got[first] + ", expected " + ref[first]
                                        + " (got "
                                        + Arrays.toString(Arrays.copyOfRange(
                                                got, Math.max(0, first - 3), Math.min(got.length, first + 4)))
                                        + ", expected "
                                        + Arrays.toString(Arrays.copyOfRange(
                                                ref, Math.max(0, first - 3), Math.min(ref.length, first + 4)))
                                        + ")"));
    }

    /** Adds a line of context (printed with the results). */
    public void note(String line) {
        lines.add("  " + line);
    }

    /** Prints every comparison and fails the test when one failed. */
    public void verify() {
        String text = header + "\n" + String.join("\n", lines);
        System.out.println(text);
        if (failed) fail(text);
    }

    static String coords(int flat, int[] shape) {
        if (shape == null || shape.length == 0) return "[" + flat + "]";
        int[] c = new int[shape.length];
        int r = flat;
        for (int i = shape.length - 1; i >= 0; i--) {
            c[i] = r % shape[i];
            r /= shape[i];
        }
        return "[" + flat + "] " + Arrays.toString(c);
    }

    /** Widens floats to doubles. */
    public static double[] doubles(float[] a) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) d[i] = a[i];
        return d;
    }
}
