package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import org.junit.jupiter.api.Test;

class LanesTest {
    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** ulps between a float result and the correctly rounded value of exact (from StrictMath in double). */
    static double ulps(float got, double exact) {
        float want = (float) exact;
        if (Float.isNaN(want) || Float.isInfinite(want) || want == 0) {
            return Float.compare(got, want) == 0 ? 0 : Double.POSITIVE_INFINITY;
        }
        return Math.abs(got - exact) / Math.ulp(want);
    }

    static float[] expOf(float[] x) {
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i += F.length()) {
            Lanes.exp(FloatVector.fromArray(F, x, i)).intoArray(out, i);
        }
        return out;
    }

    @Test
    void expIsWithinTwoUlpsOverTheWholeRangeWithSpecialValuesAsMathExp() {
        int n = F.length() * 200_000;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = -105f + 195f * i / n; // underflow through overflow, subnormal results included
        }
        float[] e = expOf(x);
        double worst = 0;
        float at = 0;
        for (int i = 0; i < n; i++) {
            double exact = StrictMath.exp(x[i]);
            double u = (float) exact < Float.MIN_NORMAL ? Math.abs(e[i] - exact) / Float.MIN_VALUE : ulps(e[i], exact);
            if (u > worst) {
                worst = u;
                at = x[i];
            }
        }
        assertThat(worst).as("worst error at x = " + at).isLessThanOrEqualTo(2.0);
        float[] special = new float[F.length()];
        float[] values = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 0f, -0f, 89f, -104f, 1f};
        for (int i = 0; i < special.length; i++) {
            special[i] = values[i % values.length];
        }
        float[] se = expOf(special);
        for (int i = 0; i < special.length; i++) {
            assertThat(Float.compare(se[i], (float) Math.exp(special[i])))
                    .as("exp(" + special[i] + ") = " + se[i])
                    .isZero();
        }
    }

    /** The same tree the lanes use, in plain Java: lane i += lane i + h for h = n/2, n/4, ..., 1. */
    static float treeSum(float[] lanes) {
        float[] v = lanes.clone();
        for (int h = v.length / 2; h >= 1; h /= 2) {
            float[] next = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                next[i] = v[i] + v[(i + h) % v.length];
            }
            v = next;
        }
        return v[0];
    }

    @Test
    void sumsFollowOneFixedOrderBeforeAndAfterTheJitCompilesThem() {
        SplittableRandom r = new SplittableRandom(3);
        float[][] vs = new float[2000][F.length()];
        for (float[] v : vs) {
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (r.nextDouble(-1, 1) * Math.pow(10, r.nextInt(-3, 4)));
            }
        }
        // run long enough for C2 to compile Lanes.sum: every call must agree with the plain-Java tree, bit for bit
        for (int round = 0; round < 60; round++) {
            for (float[] v : vs) {
                float got = Lanes.sum(FloatVector.fromArray(F, v, 0));
                assertThat(Float.floatToRawIntBits(got)).isEqualTo(Float.floatToRawIntBits(treeSum(v)));
            }
        }
        double[] d = {1e16, 1, -1e16, 3, 5, 7, 11, 13};
        DoubleVector dv = DoubleVector.fromArray(
                DoubleVector.SPECIES_PREFERRED, java.util.Arrays.copyOf(d, DoubleVector.SPECIES_PREFERRED.length()), 0);
        double first = Lanes.sum(dv);
        for (int i = 0; i < 100_000; i++) {
            assertThat(Lanes.sum(dv)).isEqualTo(first);
        }
    }

    @Test
    void expGivesTheSameBitsBeforeAndAfterTheJitCompilesIt() {
        SplittableRandom r = new SplittableRandom(5);
        float[] x = new float[F.length() * 512];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextDouble(-30, 30);
        }
        float[] first = expOf(x);
        for (int round = 0; round < 400; round++) {
            assertThat(expOf(x)).containsExactly(first);
        }
    }
}
