package fulgur.models.lightnet;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The LightNet token mixer of a language-model block against fla's LightNetAttention written out in f64: q = SiLU(q_proj x),
 * the running softmax over keys z_t = logcumsumexp(k), k̃ = exp(k − z_t), decay exp(z_{t−1} − z_t), S_t = a_t S_{t−1} + k̃ᵀ v,
 * o = scale · q S with fla's default scale 1/√(key head dim) (its GLA kernels get no scale from the layer), then
 * o_proj(RMSNorm(o) ⊙ swish(g_proj x)) with the fused op's epsilon 1e-6 (the layer passes none, so norm_eps is unused).
 */
class LightNetAttentionTest {
    private static final int D = 8;
    private static final int HEADS = 2;
    private static final int DK = 2; // key head dim (expand_ratio)
    private static final int DV = 4; // value head dim

    @Test
    void matchesFlaWithItsDefaultScaleAndGateNormEpsilon() {
        int t = 7;
        // norm_eps far from 1e-6: the block norms use it, the attention's gate norm must not
        LightNetConfig c = LightNetConfig.small(10, D, 1, HEADS).withHeads(HEADS, DK);
        c = new LightNetConfig(
                        c.modelType(),
                        c.vocabSize(),
                        c.hiddenSize(),
                        c.numHiddenLayers(),
                        c.attnMode(),
                        c.numHeads(),
                        c.expandRatio(),
                        c.useShortConv(),
                        c.convSize(),
                        c.hiddenRatio(),
                        c.intermediateSize(),
                        c.hiddenAct(),
                        c.maxPositionEmbeddings(),
                        3,
                        c.elementwiseAffine(),
                        1e-2,
                        c.attn(),
                        c.useCache(),
                        c.padTokenId(),
                        c.bosTokenId(),
                        c.eosTokenId(),
                        c.tieWordEmbeddings(),
                        c.initializerRange(),
                        c.fuseNorm(),
                        c.fuseSwiglu(),
                        c.fuseCrossEntropy(),
                        null)
                .validate();
        assertThat(c.scale()).isEqualTo(1 / Math.sqrt(DK));
        try (Scope s = Scope.open();
                LightNetBlock block = new LightNetBlock(c, new LightNetInit(new Rng(3), 0.3))) {
            block.to(DType.F64);
            Rng r = new Rng(4);
            block.attn.namedParameters().forEach((n, p) -> {
                if (n.equals("g_norm.weight")) {
                    p.replace(r.uniform(DType.F64, 0.5, 1.5, p.shape()));
                }
            });
            // small inputs: the attention output's mean square (~1e-5) is close to the norm's epsilon
            Tensor x = r.normal(DType.F64, 0, 0.05, 1, t, D);
            double[] got = block.attn.forward(x, null).toDoubleArray();
            Map<String, Tensor> p = block.attn.stateDict();
            double[] want = oracle(p, x.toDoubleArray(), t, 1 / Math.sqrt(DK), 1e-6);
            assertThat(GradCheck.relErr(got, want)).isLessThan(1e-10);
            // the checks have power: without the scale, or with norm_eps in the gate norm, the output differs
            assertThat(GradCheck.relErr(oracle(p, x.toDoubleArray(), t, 1.0, 1e-6), want))
                    .isGreaterThan(1e-3);
            assertThat(GradCheck.relErr(oracle(p, x.toDoubleArray(), t, 1 / Math.sqrt(DK), 1e-2), want))
                    .isGreaterThan(1e-3);
        }
    }

    @Test
    void attnScaleOneIsTheUnscaledRecurrence() {
        int t = 5;
        LightNetConfig c =
                LightNetConfig.small(10, D, 1, HEADS).withHeads(HEADS, DK).withAttnScale(1.0);
        try (Scope s = Scope.open();
                LightNetBlock block = new LightNetBlock(c, new LightNetInit(new Rng(5), 0.3))) {
            block.to(DType.F64);
            Tensor x = new Rng(6).normal(DType.F64, 0, 0.05, 1, t, D);
            double[] want = oracle(block.attn.stateDict(), x.toDoubleArray(), t, 1.0, 1e-6);
            assertThat(GradCheck.relErr(block.attn.forward(x, null).toDoubleArray(), want))
                    .isLessThan(1e-10);
        }
    }

    private static double[] oracle(Map<String, Tensor> p, double[] x, int t, double scale, double eps) {
        double[] wq = p.get("q_proj.weight").toDoubleArray(),
                wk = p.get("k_proj.weight").toDoubleArray(),
                wv = p.get("v_proj.weight").toDoubleArray();
        double[] g0 = p.get("g_proj.0.weight").toDoubleArray(),
                g1 = p.get("g_proj.1.weight").toDoubleArray();
        double[] gn = p.get("g_norm.weight").toDoubleArray(),
                wo = p.get("o_proj.weight").toDoubleArray();
        int kd = HEADS * DK, rank = g0.length / D;
        double[][][] st = new double[HEADS][DK][DV];
        double[] z = new double[kd];
        java.util.Arrays.fill(z, Double.NEGATIVE_INFINITY);
        double[] out = new double[t * D];
        for (int ti = 0; ti < t; ti++) {
            double[] xt = java.util.Arrays.copyOfRange(x, ti * D, (ti + 1) * D);
            double[] q = lin(wq, xt, kd, D), k = lin(wk, xt, kd, D), v = lin(wv, xt, D, D);
            double[] o = new double[D];
            for (int h = 0; h < HEADS; h++) {
                for (int i = 0; i < DK; i++) {
                    int c = h * DK + i;
                    double zNew = z[c] == Double.NEGATIVE_INFINITY
                            ? k[c]
                            : Math.max(z[c], k[c]) + Math.log1p(Math.exp(-Math.abs(z[c] - k[c])));
                    double decay = z[c] == Double.NEGATIVE_INFINITY ? 1 : Math.exp(z[c] - zNew);
                    double kt = Math.exp(k[c] - zNew);
                    z[c] = zNew;
                    for (int j = 0; j < DV; j++) {
                        st[h][i][j] = decay * st[h][i][j] + kt * v[h * DV + j];
                    }
                }
                for (int j = 0; j < DV; j++) {
                    double acc = 0;
                    for (int i = 0; i < DK; i++) {
                        double qi = q[h * DK + i];
                        acc += qi / (1 + Math.exp(-qi)) * st[h][i][j];
                    }
                    o[h * DV + j] = scale * acc;
                }
            }
            double ms = 0;
            for (double a : o) {
                ms += a * a / D;
            }
            double[] g = lin(g1, lin(g0, xt, rank, D), D, rank);
            double[] y = new double[D];
            for (int c = 0; c < D; c++) {
                y[c] = o[c] / Math.sqrt(ms + eps) * gn[c] * g[c] / (1 + Math.exp(-g[c]));
            }
            System.arraycopy(lin(wo, y, D, D), 0, out, ti * D, D);
        }
        return out;
    }

    private static double[] lin(double[] w, double[] x, int out, int in) {
        double[] y = new double[out];
        for (int o = 0; o < out; o++) {
            for (int i = 0; i < in; i++) {
                y[o] += w[o * in + i] * x[i];
            }
        }
        return y;
    }
}
