package fulgur.models.tnl;

import fulgur.layers.Glu;
import fulgur.models.SequenceShard;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.tensor.Tensor;

/** One pre-norm TNL block: x + TokenMixer(SRMSNorm(x)), then x + SGLU(SRMSNorm(x)). */
final class TnlLayer extends Module {
    final TnlAttention tokenMixer;
    private final RMSNorm tokenNorm;
    private final RMSNorm channelNorm;
    private final Glu channelMixer;

    TnlLayer(TnlConfig c, int layer, double[] slopes, TnlInit init) {
        tokenNorm = child("token_norm", new RMSNorm(c.embedDim(), TnlModel.SRMS_EPS, false));
        channelNorm = child("channel_norm", new RMSNorm(c.embedDim(), TnlModel.SRMS_EPS, false));
        tokenMixer = child("token_mixer", new TnlAttention(c, layer, slopes, init));
        channelMixer = child(
                "channel_mixer",
                new Glu(
                        new String[] {"l1", "l2", "l3"},
                        init.linear(c.embedDim(), c.gluDim(), c.bias()),
                        init.linear(c.embedDim(), c.gluDim(), c.bias()),
                        init.linear(c.gluDim(), c.embedDim(), c.bias()),
                        Glu.Activation.NONE));
    }

    Tensor forward(Tensor x, fulgur.models.RecurrentStateCache.Layer cache, SequenceShard shard) {
        Tensor h = Elementwise.add(x, tokenMixer.forward(tokenNorm.forward(x), cache, shard));
        return Elementwise.add(h, channelMixer.forward(channelNorm.forward(h)));
    }
}
