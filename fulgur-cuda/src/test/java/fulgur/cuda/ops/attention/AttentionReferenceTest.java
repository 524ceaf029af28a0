package fulgur.cuda.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The f64 oracle of the CUDA attention kernels against fulgur's composed attention and its autograd. */
class AttentionReferenceTest {

    static double maxAbs(double[] a, double[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }

    @ParameterizedTest(name = "B={0} Tq={1} Tk={2} H={3} Hkv={4} D={5} causal={6}")
    @CsvSource({
        "2, 5, 5, 4, 2, 8, true",
        "1, 3, 7, 2, 1, 8, true",
        "2, 5, 6, 4, 4, 8, false",
        "1, 9, 9, 8, 1, 4, true",
    })
    void matchesTheComposedOpAndItsGradients(int b, int tq, int tk, int h, int hk, int d, boolean causal) {
        Rng r = new Rng(1000 + tq * 10 + tk);
        Tensor q = r.normal(DType.F64, 0, 1, b, tq, h, d).requiresGrad(true);
        Tensor k = r.normal(DType.F64, 0, 1, b, tk, hk, d).requiresGrad(true);
        Tensor v = r.normal(DType.F64, 0, 1, b, tk, hk, d).requiresGrad(true);
        Tensor dout = r.normal(DType.F64, 0, 1, b, tq, h, d);
        double scale = 1 / Math.sqrt(d);
        Tensor out = SoftmaxAttention.naive(q, k, v, scale, causal, tk - tq);
        Reductions.sum(Elementwise.mul(out, dout)).backward();

        AttentionReference.Result ref = AttentionReference.run(
                b,
                tq,
                tk,
                h,
                hk,
                d,
                q.toDoubleArray(),
                k.toDoubleArray(),
                v.toDoubleArray(),
                dout.toDoubleArray(),
                scale,
                causal);
        assertThat(maxAbs(ref.o(), out.toDoubleArray())).as("o").isLessThan(1e-12);
        assertThat(maxAbs(ref.dq(), q.grad().toDoubleArray())).as("dq").isLessThan(1e-12);
        assertThat(maxAbs(ref.dk(), k.grad().toDoubleArray())).as("dk").isLessThan(1e-12);
        assertThat(maxAbs(ref.dv(), v.grad().toDoubleArray())).as("dv").isLessThan(1e-12);

        // the log-sum-exp normalises each row's visible scores
        double[] qa = q.toDoubleArray(), ka = k.toDoubleArray();
        int group = h / hk;
        for (int bb = 0; bb < b; bb++) {
            for (int hh = 0; hh < h; hh++) {
                for (int i = 0; i < tq; i++) {
                    double sum = 0;
                    int visible = causal ? Math.min(tk, i + tk - tq + 1) : tk;
                    for (int j = 0; j < visible; j++) {
                        double s = 0;
                        for (int e = 0; e < d; e++)
                            s += qa[((bb * tq + i) * h + hh) * d + e] * ka[((bb * tk + j) * hk + hh / group) * d + e];
                        sum += Math.exp(scale * s - ref.lse()[(bb * h + hh) * tq + i]);
                    }
                    assertThat(sum).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-12));
                }
            }
        }
    }

    @Test
    void rowsThatSeeNoKeyAreZeroWithMinusInfinityLogSumExp() {
        Rng r = new Rng(7);
        int tq = 6, tk = 4, h = 2, d = 4;
        double[] q = r.normal(DType.F64, 0, 1, 1, tq, h, d).toDoubleArray();
        double[] k = r.normal(DType.F64, 0, 1, 1, tk, h, d).toDoubleArray();
        double[] v = r.normal(DType.F64, 0, 1, 1, tk, h, d).toDoubleArray();
        double[] g = r.normal(DType.F64, 0, 1, 1, tq, h, d).toDoubleArray();
        AttentionReference.Result ref = AttentionReference.run(1, tq, tk, h, h, d, q, k, v, g, 0.5, true);
        // query i sees keys j <= i - 2: rows 0 and 1 see nothing
        for (int hh = 0; hh < h; hh++) {
            assertThat(ref.lse()[hh * tq]).isEqualTo(Double.NEGATIVE_INFINITY);
            assertThat(ref.lse()[hh * tq + 1]).isEqualTo(Double.NEGATIVE_INFINITY);
            assertThat(ref.lse()[hh * tq + 2]).isFinite();
        }
        for (int e = 0; e < 2 * h * d; e++) {
            assertThat(ref.o()[e]).isZero();
            assertThat(ref.dq()[e]).isZero();
        }
    }

    @Test
    void packedSequencesEqualSeparateCalls() {
        Rng r = new Rng(11);
        int h = 4, hk = 2, d = 8;
        int[] cuQ = {0, 3, 3, 10}, cuK = {0, 5, 7, 14};
        int tq = cuQ[3], tk = cuK[3];
        double[] q = r.normal(DType.F64, 0, 1, 1, tq, h, d).toDoubleArray();
        double[] k = r.normal(DType.F64, 0, 1, 1, tk, hk, d).toDoubleArray();
        double[] v = r.normal(DType.F64, 0, 1, 1, tk, hk, d).toDoubleArray();
        double[] g = r.normal(DType.F64, 0, 1, 1, tq, h, d).toDoubleArray();
        AttentionReference.Result packed = AttentionReference.run(1, tq, tk, h, hk, d, q, k, v, g, 0.3, true, cuQ, cuK);
        for (int n = 0; n < 3; n++) {
            int qs = cuQ[n], ql = cuQ[n + 1] - qs, ks = cuK[n], kl = cuK[n + 1] - ks;
            double[] qn = java.util.Arrays.copyOfRange(q, qs * h * d, (qs + ql) * h * d);
            double[] gn = java.util.Arrays.copyOfRange(g, qs * h * d, (qs + ql) * h * d);
            double[] kn = java.util.Arrays.copyOfRange(k, ks * hk * d, (ks + kl) * hk * d);
            double[] vn = java.util.Arrays.copyOfRange(v, ks * hk * d, (ks + kl) * hk * d);
            AttentionReference.Result one = AttentionReference.run(1, ql, kl, h, hk, d, qn, kn, vn, gn, 0.3, true);
            assertThat(java.util.Arrays.copyOfRange(packed.o(), qs * h * d, (qs + ql) * h * d))
                    .containsExactly(one.o());
            assertThat(java.util.Arrays.copyOfRange(packed.dk(), ks * hk * d, (ks + kl) * hk * d))
                    .containsExactly(one.dk());
            for (int hh = 0; hh < h; hh++) {
                for (int i = 0; i < ql; i++)
                    assertThat(packed.lse()[hh * tq + qs + i]).isEqualTo(one.lse()[hh * ql + i]);
            }
        }
    }
}
