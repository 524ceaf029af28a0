package fulgur.models.lcsm;

import fulgur.layers.Glu;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.lcsm.Lcsm;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** One pre-norm block: x + EOS(RMSNorm(x)), then x + GLU(RMSNorm(x)). */
final class LcsmBlock extends Module {
    final EosLayer tokenMixer;
    private final RMSNorm tokenNorm;
    private final RMSNorm channelNorm;
    private final Glu channelMixer;

    LcsmBlock(LcsmConfig c, Rng rng) {
        tokenNorm = child("token_norm", new RMSNorm(c.embedDim(), c.normEps(), true));
        tokenMixer = child("token_mixer", new EosLayer(c, rng));
        channelNorm = child("channel_norm", new RMSNorm(c.embedDim(), c.normEps(), true));
        channelMixer = child(
                "channel_mixer",
                new Glu(
                        new String[] {"w1", "w2", "w3"},
                        new Linear(c.embedDim(), c.midDim(), c.bias(), rng),
                        new Linear(c.embedDim(), c.midDim(), c.bias(), rng),
                        new Linear(c.midDim(), c.embedDim(), c.bias(), rng),
                        Glu.Activation.SILU));
    }

    /** x [B, T, d] with the layer's memory (null: zero) → (x', final memory). */
    Lcsm.Result forward(Tensor x, Tensor m0) {
        Lcsm.Result mixed = tokenMixer.forward(tokenNorm.forward(x), m0);
        Tensor[] h = channelNorm.forwardSum(x, mixed.output());
        return new Lcsm.Result(Elementwise.add(h[0], channelMixer.forward(h[1])), mixed.finalState());
    }
}
