package fulgur.models.metala;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * MetaLA's token mixer against the official code's computation written out in f64 without log space: causal
 * depthwise conv (torch Conv1d, padding K−1, last tap on the current token) + SiLU, α = σ(k_gate x̃)^{1/16}, k = 1 − α,
 * S_t = diag(α_t) S_{t−1} + k_tᵀ v_t, o = q S/√(dk/H) + σ((q·(w_aug ⊙ k)) v), LayerNorm per head (no affine, eps 1e-5),
 * y = out_proj(SiLU(g_proj x̃) ⊙ o).
 */
class MetalaAttentionTest {

    static double[] linear(double[] w, double[] bias, double[] x, int out, int in) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            y[o] = bias == null ? 0 : bias[o];
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
    void matchesTheOfficialComputation() {
        int d = 16, t = 19, b = 2, h = 2, kernel = 3;
        MetalaConfig c = MetalaConfig.small(10, d, 1, h).withConvSize(kernel);
        try (Scope s = Scope.open();
                MetalaAttention attn = new MetalaAttention(c, new Rng(2))) {
            attn.to(DType.F64);
            Rng r = new Rng(3);
            attn.namedParameters().forEach((n, p) -> p.replace(r.normal(DType.F64, 0, 0.5, p.shape())));
            Tensor x = r.normal(DType.F64, 0, 1, b, t, d);
            double[] got = attn.forward(x, null).toDoubleArray();

            var p = attn.stateDict();
            double[] wq = p.get("q_proj.weight").toDoubleArray(),
                    wk = p.get("k_gate.weight").toDoubleArray();
            double[] wv = p.get("v_proj.weight").toDoubleArray(),
                    wg = p.get("g_proj.weight").toDoubleArray();
            double[] bg = p.get("g_proj.bias").toDoubleArray(),
                    wo = p.get("out_proj.weight").toDoubleArray();
            double[] aug = p.get("aug_balance").toDoubleArray(),
                    conv = p.get("conv1d.weight").toDoubleArray(); // [d, 1, K]
            double[] xs = x.toDoubleArray();
            int dk = d / 2, kd = dk / h, hd = d / h;
            double[] want = new double[b * t * d];
            for (int bi = 0; bi < b; bi++) {
                double[][][] st = new double[h][kd][hd];
                for (int ti = 0; ti < t; ti++) {
                    double[] xt = new double[d];
                    for (int ch = 0; ch < d; ch++) {
                        double acc = 0;
                        for (int j = 0; j < kernel; j++) {
                            int src = ti - (kernel - 1) + j;
                            acc += src < 0 ? 0 : conv[ch * kernel + j] * xs[(bi * t + src) * d + ch];
                        }
                        xt[ch] = acc * sigmoid(acc);
                    }
                    double[] q = linear(wq, null, xt, dk, d), a = linear(wk, null, xt, dk, d);
                    double[] v = linear(wv, null, xt, d, d), g = linear(wg, bg, xt, d, d);
                    double[] k = new double[dk];
                    for (int i = 0; i < dk; i++) {
                        a[i] = Math.pow(sigmoid(a[i]), 1 / 16.0);
                        k[i] = 1 - a[i];
                    }
                    double[] o = new double[d];
                    for (int hh = 0; hh < h; hh++) {
                        double w = 0;
                        for (int i = 0; i < kd; i++) {
                            w += q[hh * kd + i] * aug[hh * kd + i] * k[hh * kd + i];
                            for (int e = 0; e < hd; e++) {
                                st[hh][i][e] = a[hh * kd + i] * st[hh][i][e] + k[hh * kd + i] * v[hh * hd + e];
                            }
                        }
                        double mean = 0;
                        for (int e = 0; e < hd; e++) {
                            double acc = 0;
                            for (int i = 0; i < kd; i++) {
                                acc += q[hh * kd + i] * st[hh][i][e];
                            }
                            o[hh * hd + e] = acc / Math.sqrt(kd) + sigmoid(w * v[hh * hd + e]);
                            mean += o[hh * hd + e] / hd;
                        }
                        double var = 0;
                        for (int e = 0; e < hd; e++) {
                            var += Math.pow(o[hh * hd + e] - mean, 2) / hd;
                        }
                        for (int e = 0; e < hd; e++) {
                            o[hh * hd + e] = (o[hh * hd + e] - mean) / Math.sqrt(var + 1e-5);
                        }
                    }
                    for (int ch = 0; ch < d; ch++) {
                        o[ch] *= g[ch] * sigmoid(g[ch]);
                    }
                    System.arraycopy(linear(wo, null, o, d, d), 0, want, (bi * t + ti) * d, d);
                }
            }
            assertThat(GradCheck.relErr(got, want)).isLessThan(1e-10);
        }
    }

    /**
     * In bf16 the token mixer keeps bf16 precision: its output and the gradients of its input and weights agree with the
     * same mixer in f64 (bf16-representable weights and input, w_aug not zero) to a few bf16 roundings. o is small
     * (k = 1 − α ≈ 0.04), and the self-augmentation's σ(·) is ½ plus a small term: adding that ½ to o in bf16 rounded o
     * to 2^-9 absolute, which the per-head norm then scaled up (relative errors of 0.1 to 0.8). The bound: about ten
     * bf16 roundings on the way (conv, SiLU, four projections, the GLA output, the norm, the gate product, out_proj),
     * each a relative error uniform within ±2^-8, adding at random to about √10 · 2^-8/√3 ≈ 0.007 (measured 0.007 to
     * 0.009); 2e-2 leaves room for their alignment, far below the swamped o's.
     */
    @Test
    void keepsBf16Precision() {
        int d = 64, t = 33, b = 2, h = 2;
        MetalaConfig c = MetalaConfig.small(10, d, 1, h);
        try (Scope s = Scope.open();
                MetalaAttention lo = new MetalaAttention(c, new Rng(4));
                MetalaAttention hi = new MetalaAttention(c, new Rng(4))) {
            Rng r = new Rng(5);
            Tensor aug = r.normal(DType.F32, 0, 0.5, d / 2).to(DType.BF16);
            lo.to(DType.BF16);
            hi.to(DType.F64);
            hi.namedParameters().forEach((n, p) -> {
                Tensor v = n.equals("aug_balance")
                        ? aug
                        : lo.namedParameters().get(n).value();
                p.replace(v.to(DType.F64));
            });
            lo.namedParameters().get("aug_balance").replace(aug);
            Tensor x = r.normal(DType.F32, 0, 1, b, t, d).to(DType.BF16);
            Tensor w = r.normal(DType.F32, 0, 1, b, t, d).to(DType.BF16);
            Tensor xl = x.detach().requiresGrad(true), xh = x.to(DType.F64).requiresGrad(true);
            Tensor yl = lo.forward(xl, null), yh = hi.forward(xh, null);
            Reductions.sum(Elementwise.mul(yl, w)).backward();
            Reductions.sum(Elementwise.mul(yh, w.to(DType.F64))).backward();
            assertThat(GradCheck.relErr(yl.toDoubleArray(), yh.toDoubleArray()))
                    .as("output")
                    .isLessThan(2e-2);
            assertThat(GradCheck.relErr(xl.grad().toDoubleArray(), xh.grad().toDoubleArray()))
                    .as("input gradient")
                    .isLessThan(2e-2);
            hi.namedParameters()
                    .forEach((n, p) -> assertThat(GradCheck.relErr(
                                    lo.namedParameters().get(n).grad().toDoubleArray(),
                                    p.grad().toDoubleArray()))
                            .as(n)
                            .isLessThan(2e-2));
        }
    }
}
