package fulgur.models.lightnet;

import fulgur.layers.GatedMlp;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.tensor.Tensor;

/** fla's LightNetBlock, pre-norm: h = x + attn(attn_norm(x)), out = h + mlp(mlp_norm(h)). */
final class LightNetBlock extends Module {
    /** The epsilon of fla's fused rms_norm_swish_gate_linear, which its LightNet layer calls without one. */
    static final double FLA_G_NORM_EPS = 1e-6;

    final LightNetAttention attn;
    private final RMSNorm attnNorm;
    private final RMSNorm mlpNorm;
    private final GatedMlp mlp;

    LightNetBlock(
            int hidden,
            int heads,
            int keyHeadDim,
            int gateRank,
            int mlpDim,
            boolean affine,
            double eps,
            double gNormEps,
            double scale,
            boolean global,
            LightNetInit init) {
        attnNorm = child("attn_norm", new RMSNorm(hidden, eps, true));
        attn = child(
                "attn",
                new LightNetAttention(hidden, heads, keyHeadDim, gateRank, affine, gNormEps, scale, global, init));
        mlpNorm = child("mlp_norm", new RMSNorm(hidden, eps, true));
        mlp = child(
                "mlp",
                new GatedMlp(init.linear(hidden, mlpDim), init.linear(hidden, mlpDim), init.linear(mlpDim, hidden)));
    }

    LightNetBlock(LightNetConfig c, LightNetInit init) {
        this(
                c.hiddenSize(),
                c.heads(),
                c.keyHeadDim(),
                c.gateLowRankDim(),
                c.mlpDim(),
                c.elementwiseAffine(),
                c.normEps(),
                FLA_G_NORM_EPS,
                c.scale(),
                false,
                init);
    }

    Tensor forward(Tensor x, LightNetCache.Layer cache) {
        return forward(x, cache, null, 0);
    }

    Tensor forward(Tensor x, LightNetCache.Layer cache, fulgur.models.StateCarry carry, int layer) {
        Tensor[] h = mlpNorm.forwardSum(x, attn.forward(attnNorm.forward(x), cache, carry, layer));
        return Elementwise.add(h[0], mlp.forward(h[1]));
    }
}
