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
        Tensor[] o = forwardUnsummed(x, null, cache, shard);
        return Elementwise.add(o[0], o[1]);
    }

    /**
     * The block on the residual stream r + d (d null: on r) without its last residual sum: {h, SGLU(SRMSNorm(h))},
     * which the next block's first norm (or the final norm) sums in the same pass as it normalises them.
     */
    Tensor[] forwardUnsummed(Tensor r, Tensor d, fulgur.models.RecurrentStateCache.Layer cache, SequenceShard shard) {
        Tensor[] x = d == null ? new Tensor[] {r, tokenNorm.forward(r)} : tokenNorm.forwardSum(r, d);
        Tensor[] h = channelNorm.forwardSum(x[0], tokenMixer.forward(x[1], cache, shard));
        return new Tensor[] {h[0], channelMixer.forward(h[1])};
    }
}
