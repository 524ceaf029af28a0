package fulgur.models.hgrn2;

import fulgur.layers.GatedMlp;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** One pre-norm HGRN2 block (fla's HGRN2Block): x + attn(attn_norm(x)), then x + mlp(mlp_norm(x)). */
final class Hgrn2Block extends Module {
    private final RMSNorm attnNorm;
    private final Hgrn2Attention attn;
    private final RMSNorm mlpNorm;
    private final GatedMlp mlp;

    Hgrn2Block(Hgrn2Config c, Rng rng) {
        attnNorm = child("attn_norm", new RMSNorm(c.hiddenSize(), c.normEps(), true));
        attn = child("attn", new Hgrn2Attention(c, rng));
        mlpNorm = child("mlp_norm", new RMSNorm(c.hiddenSize(), c.normEps(), true));
        mlp = child(
                "mlp",
                new GatedMlp(
                        Hgrn2Model.linear(c.hiddenSize(), c.mlpSize(), rng, c.initializerRange()),
                        Hgrn2Model.linear(c.hiddenSize(), c.mlpSize(), rng, c.initializerRange()),
                        Hgrn2Model.linear(c.mlpSize(), c.hiddenSize(), rng, c.initializerRange())));
    }

    Tensor forward(
            Tensor x,
            Tensor lowerBound,
            fulgur.models.RecurrentStateCache.Layer cache,
            fulgur.models.StateCarry carry,
            int layer) {
        Tensor[] h = mlpNorm.forwardSum(x, attn.forward(attnNorm.forward(x), lowerBound, cache, carry, layer));
        return Elementwise.add(h[0], mlp.forward(h[1]));
    }
}
