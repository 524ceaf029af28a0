package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class RopeTest {

    /** The rotation written out element by element in f64: pair (i, i + r/2), angle pos·θ^(−2i/r); features ≥ r pass. */
    static double[] direct(double[] x, int b, int t, int h, int d, int r, double theta, long offset) {
        double[] out = x.clone();
        int half = r / 2;
        for (int bi = 0; bi < b; bi++) {
            for (int p = 0; p < t; p++) {
                for (int hi = 0; hi < h; hi++) {
                    int base = ((bi * t + p) * h + hi) * d;
                    for (int i = 0; i < half; i++) {
                        double a = (offset + p) * Math.pow(theta, -2.0 * i / r);
                        double x1 = x[base + i];
                        double x2 = x[base + half + i];
                        out[base + i] = x1 * Math.cos(a) - x2 * Math.sin(a);
                        out[base + half + i] = x2 * Math.cos(a) + x1 * Math.sin(a);
                    }
                }
            }
        }
        return out;
    }

    @ParameterizedTest
    @CsvSource({
        // b, t, h, d, rotary, theta, offset
        "2, 7, 3, 8, 8, 10000, 0",
        "1, 5, 2, 12, 6, 10000000, 13",
        "2, 3, 1, 16, 4, 500000, 1000",
        // positions past what an int holds (a long sequence's last chunk, a sequence-parallel rank's slice)
        "1, 4, 2, 8, 8, 10000, 2147483643",
        "1, 3, 1, 8, 4, 500000, 8589934595",
    })
    void matchesTheDirectFormula(int b, int t, int h, int d, int r, double theta, long offset) {
        try (Scope s = Scope.open()) {
            Tensor x = new Rng(1).normal(DType.F64, 0, 1, b, t, h, d);
            Tensor y = new Rope(d, r, theta).apply(x, offset);
            assertThat(y.shape()).containsExactly(b, t, h, d);
            assertThat(GradCheck.relErr(y.toDoubleArray(), direct(x.toDoubleArray(), b, t, h, d, r, theta, offset)))
                    .isLessThan(1e-14);
            Tensor x32 = x.to(DType.F32);
            Tensor y32 = new Rope(d, r, theta).apply(x32, offset);
            assertThat(GradCheck.relErr(y32.toFloatArray(), direct(x32.toDoubleArray(), b, t, h, d, r, theta, offset)))
                    .isLessThan(1e-6);
        }
    }

    /** q·k after the rotation depends only on the distance between the positions. */
    @Test
    void scoresDependOnlyOnRelativePosition() {
        try (Scope s = Scope.open()) {
            Rope rope = new Rope(16, 16, 10000);
            Tensor q = new Rng(2).normal(DType.F64, 0, 1, 1, 1, 1, 16);
            Tensor k = new Rng(3).normal(DType.F64, 0, 1, 1, 1, 1, 16);
            for (int dist : new int[] {0, 1, 5, 37}) {
                double first = dot(rope.apply(q, dist), rope.apply(k, 0));
                for (int shift : new int[] {1, 9, 250}) {
                    double shifted = dot(rope.apply(q, dist + shift), rope.apply(k, shift));
                    assertThat(shifted)
                            .as("distance %d, shift %d", dist, shift)
                            .isCloseTo(first, org.assertj.core.api.Assertions.within(1e-10));
                }
            }
            // and it does depend on the distance
            assertThat(dot(rope.apply(q, 3), rope.apply(k, 0)))
                    .isNotCloseTo(
                            dot(rope.apply(q, 4), rope.apply(k, 0)), org.assertj.core.api.Assertions.within(1e-6));
        }
    }

    private static double dot(Tensor a, Tensor b) {
        return a.mul(b).sum().item();
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        try (Scope s = Scope.open()) {
            Tensor x = new Rng(4).normal(DType.F64, 0, 1, 2, 3, 2, 6);
            GradCheck.check(in -> new Rope(6, 4, 100).apply(in[0], 5), x);
        }
    }

    /** transformers' _compute_llama3_parameters, written out: keep, divide, or blend in the band between. */
    @Test
    void llama3ScalingFollowsTheReferenceFormula() {
        Rope r = Rope.llama3(32, 500000, 32, 1, 4, 8192);
        int blended = 0;
        for (int i = 0; i < 16; i++) {
            double f = Math.pow(500000, -2.0 * i / 32);
            double wavelen = 2 * Math.PI / f;
            double want;
            if (wavelen < 8192 / 4.0) {
                want = f;
            } else if (wavelen > 8192 / 1.0) {
                want = f / 32;
            } else {
                double smooth = (8192 / wavelen - 1) / (4 - 1);
                want = (1 - smooth) * f / 32 + smooth * f;
                blended++;
            }
            assertThat(r.invFreq(i))
                    .as("pair %d", i)
                    .isCloseTo(want, org.assertj.core.api.Assertions.within(1e-15 * f));
        }
        assertThat(blended).as("pairs in the interpolated band").isPositive();
        try (Scope s = Scope.open()) {
            // the rotation uses the scaled frequencies: compare with the direct formula at one position
            Tensor x = new Rng(6).normal(DType.F64, 0, 1, 1, 1, 1, 32);
            double[] y = r.apply(x, 1000).toDoubleArray();
            double[] xs = x.toDoubleArray();
            for (int i = 0; i < 16; i++) {
                double a = 1000 * r.invFreq(i);
                assertThat(y[i])
                        .isCloseTo(
                                xs[i] * Math.cos(a) - xs[i + 16] * Math.sin(a),
                                org.assertj.core.api.Assertions.within(1e-12));
            }
        }
    }

    /**
     * One offset reads the device-kept tables (grown as positions rise); per-row offsets and positions past the kept
     * range build them per call: the same values either way.
     */
    @Test
    void keptTablesEqualTablesBuiltPerCall() {
        try (Scope s = Scope.open()) {
            Rope rope = new Rope(8, 8, 10000);
            Tensor x = new Rng(7).normal(DType.F64, 0, 1, 2, 5, 3, 8);
            for (long offset : new long[] {0, 300, 4000, Rope.CACHED_POSITIONS - 5}) {
                double[] kept = rope.apply(x, offset).toDoubleArray();
                double[] perCall = rope.apply(x, new long[] {offset, offset}).toDoubleArray();
                assertThat(kept).containsExactly(perCall);
            }
            double[] beyond = rope.apply(x, Rope.CACHED_POSITIONS).toDoubleArray();
            assertThat(beyond)
                    .containsExactly(rope.apply(x, new long[] {Rope.CACHED_POSITIONS, Rope.CACHED_POSITIONS})
                            .toDoubleArray());
        }
    }

    @Test
    void badArgumentsAreNamed() {
        assertThatThrownBy(() -> new Rope(8, 5, 10000)).hasMessageContaining("rotaryDim");
        assertThatThrownBy(() -> new Rope(8, 10, 10000)).hasMessageContaining("rotaryDim");
        assertThatThrownBy(() -> new Rope(8, 8, -1)).hasMessageContaining("theta");
        try (Scope s = Scope.open()) {
            assertThatThrownBy(() -> new Rope(8, 8, 10000).apply(Tensor.zeros(1, 2, 3, 6), 0))
                    .hasMessageContaining("x must be [B, T, H, 8]");
            assertThatThrownBy(() -> new Rope(8, 8, 10000).apply(Tensor.zeros(1, 2, 3, 8), -1))
                    .hasMessageContaining("position offset");
        }
    }
}
