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

class SoftmaxAttentionTest {

    /** Tiled vs naive, values and gradients, in f32; odd sizes that are not multiples of the blocks. */
    @ParameterizedTest
    @CsvSource({
        // b, tq, tk, h, hkv, d, dv, causal, offset
        "2, 37, 37, 2, 2, 8, 8, true, 0",
        "1, 70, 70, 4, 2, 12, 5, true, 0",
        "2, 13, 52, 2, 1, 8, 8, true, 39",
        "1, 33, 97, 3, 3, 16, 16, true, 64",
        "2, 19, 29, 2, 2, 7, 9, false, 0",
    })
    void tiledMatchesNaive(int b, int tq, int tk, int h, int hkv, int d, int dv, boolean causal, long offset) {
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(7);
            Tensor q = rng.normal(DType.F32, 0, 1, b, tq, h, d).requiresGrad(true);
            Tensor k = rng.normal(DType.F32, 0, 1, b, tk, hkv, d).requiresGrad(true);
            Tensor v = rng.normal(DType.F32, 0, 1, b, tk, hkv, dv).requiresGrad(true);
            Tensor w = rng.normal(DType.F32, 0, 1, b, tq, h, dv);
            double scale = 1 / Math.sqrt(d);
            Tensor tiled = SoftmaxAttention.attention(q, k, v, scale, causal, offset);
            tiled.mul(w).sum().backward();
            float[][] gt = {
                q.grad().toFloatArray(), k.grad().toFloatArray(), v.grad().toFloatArray()
            };
            q.zeroGrad();
            k.zeroGrad();
            v.zeroGrad();
            Tensor naive = SoftmaxAttention.naive(q, k, v, scale, causal, offset);
            naive.mul(w).sum().backward();
            double[][] gn = {
                q.grad().toDoubleArray(), k.grad().toDoubleArray(), v.grad().toDoubleArray()
            };
            assertThat(GradCheck.relErr(tiled.toFloatArray(), naive.toDoubleArray()))
                    .isLessThan(2e-6);
            for (int i = 0; i < 3; i++) {
                assertThat(GradCheck.relErr(gt[i], gn[i])).as("gradient %d", i).isLessThan(1e-5);
            }
        }
    }

    /** The naive form against softmax written out per query in f64, causal and not, with grouped heads. */
    @ParameterizedTest
    @CsvSource({"true, 0", "false, 0", "true, 3"})
    void naiveMatchesADirectLoop(boolean causal, long offset) {
        int b = 2, tq = 5, tk = 8, h = 4, hkv = 2, d = 3, dv = 2;
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(13);
            Tensor q = rng.normal(DType.F64, 0, 1, b, tq, h, d);
            Tensor k = rng.normal(DType.F64, 0, 1, b, tk, hkv, d);
            Tensor v = rng.normal(DType.F64, 0, 1, b, tk, hkv, dv);
            double[] qa = q.toDoubleArray(), ka = k.toDoubleArray(), va = v.toDoubleArray();
            double[] want = new double[b * tq * h * dv];
            for (int bi = 0; bi < b; bi++) {
                for (int i = 0; i < tq; i++) {
                    for (int hi = 0; hi < h; hi++) {
                        int g = hi / (h / hkv);
                        double[] sc = new double[tk];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < tk; j++) {
                            double dot = 0;
                            for (int c = 0; c < d; c++) {
                                dot += qa[((bi * tq + i) * h + hi) * d + c] * ka[((bi * tk + j) * hkv + g) * d + c];
                            }
                            sc[j] = causal && j > offset + i ? Double.NEGATIVE_INFINITY : 0.5 * dot;
                            max = Math.max(max, sc[j]);
                        }
                        double z = 0;
                        for (int j = 0; j < tk; j++) {
                            sc[j] = Math.exp(sc[j] - max);
                            z += sc[j];
                        }
                        for (int j = 0; j < tk; j++) {
                            for (int c = 0; c < dv; c++) {
                                want[((bi * tq + i) * h + hi) * dv + c] +=
                                        sc[j] / z * va[((bi * tk + j) * hkv + g) * dv + c];
                            }
                        }
                    }
                }
            }
            assertThat(GradCheck.relErr(
                            SoftmaxAttention.naive(q, k, v, 0.5, causal, offset).toDoubleArray(), want))
                    .isLessThan(1e-13);
            Tensor tiled =
                    SoftmaxAttention.attention(q.to(DType.F32), k.to(DType.F32), v.to(DType.F32), 0.5, causal, offset);
            assertThat(GradCheck.relErr(tiled.toFloatArray(), want)).isLessThan(1e-6);
        }
    }

    @Test
    void naiveGradientsAreRightInF64() {
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(3);
            Tensor q = rng.normal(DType.F64, 0, 1, 1, 4, 2, 3);
            Tensor k = rng.normal(DType.F64, 0, 1, 1, 6, 1, 3);
            Tensor v = rng.normal(DType.F64, 0, 1, 1, 6, 1, 2);
            GradCheck.check(in -> SoftmaxAttention.attention(in[0], in[1], in[2], 0.7, true, 2), q, k, v);
        }
    }

    /** Attending from an offset over gathered keys equals the matching rows of whole-sequence causal attention. */
    @Test
    void offsetRowsEqualWholeSequenceRows() {
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(11);
            Tensor q = rng.normal(DType.F32, 0, 1, 1, 40, 2, 8);
            Tensor k = rng.normal(DType.F32, 0, 1, 1, 40, 2, 8);
            Tensor v = rng.normal(DType.F32, 0, 1, 1, 40, 2, 8);
            Tensor whole = SoftmaxAttention.attention(q, k, v, 0.3, true, 0);
            Tensor part = SoftmaxAttention.attention(
                    q.narrow(1, 20, 10).contiguous(),
                    k.narrow(1, 0, 30).contiguous(),
                    v.narrow(1, 0, 30).contiguous(),
                    0.3,
                    true,
                    20);
            assertThat(GradCheck.relErr(
                            part.toFloatArray(), whole.narrow(1, 20, 10).toDoubleArray()))
                    .isLessThan(1e-6);
        }
    }

    @Test
    void badShapesAreNamed() {
        try (Scope s = Scope.open()) {
            Tensor q = Tensor.zeros(1, 4, 3, 8);
            Tensor k = Tensor.zeros(1, 4, 2, 8);
            assertThatThrownBy(() -> SoftmaxAttention.attention(q, k, k, 1, true, 0))
                    .hasMessageContaining("3 query heads are not a multiple of 2 key/value heads");
            assertThatThrownBy(() -> SoftmaxAttention.attention(q, q, q, 1, true, -1))
                    .hasMessageContaining("query offset must be >= 0");
        }
    }
}
