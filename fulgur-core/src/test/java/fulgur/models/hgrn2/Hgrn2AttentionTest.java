package fulgur.models.hgrn2;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * The HGRN2 token mixer against the official recurrence written out in f64 without log space (hgru2-pytorch's
 * form): f = β + (1−β)σ(W_f x), S_t = diag(f_t) S_{t−1} + (1 − f_t)ᵀ i_t per head, y = scale·q S, RMSNorm, o_proj.
 */
class Hgrn2AttentionTest {

    static double[] linear(double[] w, double[] x, int out, int in) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                y[o] += w[o * in + i] * x[i];
            }
        }
        return y;
    }

    static double sigmoid(double x) {
        return 1 / (1 + Math.exp(-x));
    }

    @Test
    void matchesTheOfficialRecurrenceWithALowerBound() {
        int d = 12, t = 21, b = 2;
        for (Double attnScale : new Double[] {null, 1.0}) {
            Hgrn2Config c = Hgrn2Config.small(10, d, 2, 3).withAttnScale(attnScale);   // 3 heads of 4
            try (Scope s = Scope.open(); Hgrn2Attention attn = new Hgrn2Attention(c, new Rng(2))) {
                attn.to(DType.F64);
                Rng r = new Rng(3);
                // larger weights than the init so gates spread over (0, 1); g_norm weight not all ones
                attn.namedParameters().forEach((n, p) -> p.replace(r.normal(DType.F64, n.contains("norm") ? 1 : 0, 0.5, p.shape())));
                Tensor x = r.normal(DType.F64, 0, 1, b, t, d);
                Tensor beta = r.uniform(DType.F64, 0.05, 0.9, d);
                double[] got = attn.forward(x, beta, null).toDoubleArray();

                var p = attn.stateDict();
                double[] wq = p.get("q_proj.weight").toDoubleArray(), wf = p.get("f_proj.weight").toDoubleArray();
                double[] wi = p.get("i_proj.weight").toDoubleArray(), wo = p.get("o_proj.weight").toDoubleArray();
                double[] gn = p.get("g_norm.weight").toDoubleArray();
                double[] xs = x.toDoubleArray(), bt = beta.toDoubleArray();
                int h = 3, e = 4;
                double scale = attnScale == null ? 1 / Math.sqrt(e) : attnScale;
                double[] want = new double[b * t * d];
                for (int bi = 0; bi < b; bi++) {
                    double[][][] st = new double[h][e][e];
                    for (int ti = 0; ti < t; ti++) {
                        double[] xt = java.util.Arrays.copyOfRange(xs, (bi * t + ti) * d, (bi * t + ti + 1) * d);
                        double[] q = linear(wq, xt, d, d), f = linear(wf, xt, d, d), in = linear(wi, xt, d, d);
                        double[] y = new double[d];
                        for (int c2 = 0; c2 < d; c2++) {
                            q[c2] = q[c2] * sigmoid(q[c2]);
                            f[c2] = bt[c2] + (1 - bt[c2]) * sigmoid(f[c2]);
                        }
                        for (int hh = 0; hh < h; hh++) {
                            for (int r1 = 0; r1 < e; r1++) {
                                for (int c2 = 0; c2 < e; c2++) {
                                    double fr = f[hh * e + r1];
                                    st[hh][r1][c2] = fr * st[hh][r1][c2] + (1 - fr) * in[hh * e + c2];
                                }
                            }
                            for (int c2 = 0; c2 < e; c2++) {
                                double acc = 0;
                                for (int r1 = 0; r1 < e; r1++) {
                                    acc += q[hh * e + r1] * st[hh][r1][c2];
                                }
                                y[hh * e + c2] = scale * acc;
                            }
                        }
                        double ms = 0;
                        for (double v : y) {
                            ms += v * v / d;
                        }
                        double rs = 1 / Math.sqrt(ms + c.normEps());
                        for (int c2 = 0; c2 < d; c2++) {
                            y[c2] = y[c2] * rs * gn[c2];
                        }
                        System.arraycopy(linear(wo, y, d, d), 0, want, (bi * t + ti) * d, d);
                    }
                }
                assertThat(GradCheck.relErr(got, want)).as("attn_scale %s", attnScale).isLessThan(1e-10);
            }
        }
    }
}
