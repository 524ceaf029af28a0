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
            Hgrn2Config c = Hgrn2Config.small(10, d, 2, 3).withAttnScale(attnScale); // 3 heads of 4
            try (Scope s = Scope.open();
                    Hgrn2Attention attn = new Hgrn2Attention(c, new Rng(2))) {
                attn.to(DType.F64);
                Rng r = new Rng(3);
                // larger weights than the init so gates spread over (0, 1); g_norm weight not all ones
                attn.namedParameters()
                        .forEach((n, p) -> p.replace(r.normal(DType.F64, n.contains("norm") ? 1 : 0, 0.5, p.shape())));
                Tensor x = r.normal(DType.F64, 0, 1, b, t, d);
                Tensor beta = r.uniform(DType.F64, 0.05, 0.9, d);
                double[] got = attn.forward(x, beta, null).toDoubleArray();

                var p = attn.stateDict();
                double[] wq = p.get("q_proj.weight").toDoubleArray(),
                        wf = p.get("f_proj.weight").toDoubleArray();
                double[] wi = p.get("i_proj.weight").toDoubleArray(),
                        wo = p.get("o_proj.weight").toDoubleArray();
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
                        double rs = 1 / Math.sqrt(ms + 1e-5); // fla's fused rms_norm_linear default, not norm_eps
                        for (int c2 = 0; c2 < d; c2++) {
                            y[c2] = y[c2] * rs * gn[c2];
                        }
                        System.arraycopy(linear(wo, y, d, d), 0, want, (bi * t + ti) * d, d);
                    }
                }
                assertThat(GradCheck.relErr(got, want))
                        .as("attn_scale %s", attnScale)
                        .isLessThan(1e-10);
            }
        }
    }

    /**
     * fla normalises the attention output with its fused rms_norm_linear called without an eps, so the op's default
     * 1e-5 applies whatever norm_eps says; the output's mean square here (~1e-6) makes the eps decide the result.
     */
    @Test
    void outputNormUsesTheFusedOpsEpsilonNotNormEps() throws Exception {
        int d = 8, t = 5;
        Hgrn2Config base = Hgrn2Config.small(10, d, 2, 2);
        var json = (com.fasterxml.jackson.databind.node.ObjectNode)
                fulgur.io.Json.mapper().readTree(base.toJson());
        double[][] outs = new double[2][];
        double[] epsilons = {1e-6, 0.1};
        for (int run = 0; run < 2; run++) {
            json.put("norm_eps", epsilons[run]);
            Hgrn2Config c = Hgrn2Config.parse(json.toString());
            try (Scope s = Scope.open();
                    Hgrn2Attention attn = new Hgrn2Attention(c, new Rng(5))) {
                attn.to(DType.F64);
                Tensor x = new Rng(6).normal(DType.F64, 0, 0.05, 1, t, d);
                outs[run] = attn.forward(x, null, null).toDoubleArray();
                if (run == 0) {
                    // the same layer by hand: o_proj(g_norm(o)) with eps 1e-5, o the GLA output
                    var p = attn.stateDict();
                    assertThat(rms(attnOutput(attn, x)))
                            .as("attention output RMS")
                            .isLessThan(1e-2);
                    double[] want = normAndProject(
                            attnOutput(attn, x),
                            p.get("g_norm.weight").toDoubleArray(),
                            p.get("o_proj.weight").toDoubleArray(),
                            d,
                            1e-5);
                    assertThat(GradCheck.relErr(outs[0], want)).isLessThan(1e-12);
                    double[] wrong = normAndProject(
                            attnOutput(attn, x),
                            p.get("g_norm.weight").toDoubleArray(),
                            p.get("o_proj.weight").toDoubleArray(),
                            d,
                            1e-6);
                    assertThat(GradCheck.relErr(wrong, want))
                            .as("the eps matters at this scale")
                            .isGreaterThan(1e-3);
                }
            }
        }
        assertThat(outs[1]).isEqualTo(outs[0]);
    }

    /** The GLA output before g_norm, [T·D] (batch 1): the layer with an identity norm and projection. */
    private static double[] attnOutput(Hgrn2Attention attn, Tensor x) {
        var p = attn.stateDict();
        double[] wq = p.get("q_proj.weight").toDoubleArray(),
                wf = p.get("f_proj.weight").toDoubleArray(),
                wi = p.get("i_proj.weight").toDoubleArray();
        int d = x.size(2), t = x.size(1), h = 2, e = d / h;
        double[] xs = x.toDoubleArray();
        double[] out = new double[t * d];
        double[][][] st = new double[h][e][e];
        double scale = 1 / Math.sqrt(e);
        for (int ti = 0; ti < t; ti++) {
            double[] xt = java.util.Arrays.copyOfRange(xs, ti * d, (ti + 1) * d);
            double[] q = linear(wq, xt, d, d), f = linear(wf, xt, d, d), in = linear(wi, xt, d, d);
            for (int c = 0; c < d; c++) {
                q[c] = q[c] * sigmoid(q[c]);
                f[c] = sigmoid(f[c]);
            }
            for (int hh = 0; hh < h; hh++) {
                for (int r = 0; r < e; r++) {
                    for (int c = 0; c < e; c++) {
                        double fr = f[hh * e + r];
                        st[hh][r][c] = fr * st[hh][r][c] + (1 - fr) * in[hh * e + c];
                    }
                }
                for (int c = 0; c < e; c++) {
                    double acc = 0;
                    for (int r = 0; r < e; r++) {
                        acc += q[hh * e + r] * st[hh][r][c];
                    }
                    out[ti * d + hh * e + c] = scale * acc;
                }
            }
        }
        return out;
    }

    private static double[] normAndProject(double[] o, double[] gain, double[] wo, int d, double eps) {
        int t = o.length / d;
        double[] out = new double[o.length];
        for (int ti = 0; ti < t; ti++) {
            double ms = 0;
            for (int c = 0; c < d; c++) {
                ms += o[ti * d + c] * o[ti * d + c] / d;
            }
            double[] y = new double[d];
            for (int c = 0; c < d; c++) {
                y[c] = o[ti * d + c] / Math.sqrt(ms + eps) * gain[c];
            }
            System.arraycopy(linear(wo, y, d, d), 0, out, ti * d, d);
        }
        return out;
    }

    private static double rms(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x * x;
        }
        return Math.sqrt(s / v.length);
    }
}
