package fulgur.models.metala;

import fulgur.layers.Glu;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** One pre-norm MetaLA block: x + token_mixer(SRMSNorm(x)), then x + channel_mixer(SRMSNorm(x)). */
final class MetalaLayer extends Module {
    private final MetalaAttention tokenMixer;
    private final RMSNorm tokenNorm;
    private final Glu channelMixer;
    private final RMSNorm channelNorm;

    MetalaLayer(MetalaConfig c, Rng rng) {
        tokenMixer = child("token_mixer", new MetalaAttention(c, rng));
        tokenNorm = child("token_norm", new RMSNorm(c.embedDim(), MetalaModel.SRMS_EPS, false));
        channelMixer = child("channel_mixer", channelMixer(c, rng));
        channelNorm = child("channel_norm", new RMSNorm(c.embedDim(), MetalaModel.SRMS_EPS, false));
    }

    /** MetaLA's channel mixer: l3(act(l1(x)) ⊙ l2(x)), act from glu_act (SiLU unless gelu, relu or sigmoid). */
    private static Glu channelMixer(MetalaConfig c, Rng rng) {
        Glu.Activation act = switch (c.gluAct()) {
            case "gelu" -> Glu.Activation.GELU;
            case "relu" -> Glu.Activation.RELU;
            case "sigmoid" -> Glu.Activation.SIGMOID;
            default -> Glu.Activation.SILU;
        };
        return new Glu(
                new String[] {"l1", "l2", "l3"},
                MetalaModel.linear(c.embedDim(), c.gluDim(), c.bias(), rng, c.initStd()),
                MetalaModel.linear(c.embedDim(), c.gluDim(), c.bias(), rng, c.initStd()),
                MetalaModel.linear(c.gluDim(), c.embedDim(), c.bias(), rng, c.initStd()),
                act);
    }

    Tensor forward(Tensor x, MetalaCache.Layer cache, fulgur.models.StateCarry carry, int layer) {
        Tensor[] h = channelNorm.forwardSum(x, tokenMixer.forward(tokenNorm.forward(x), cache, carry, layer));
        return Elementwise.add(h[0], channelMixer.forward(h[1]));
    }
}
