package fulgur.models.metala;

import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** One pre-norm MetaLA block: x + token_mixer(SRMSNorm(x)), then x + channel_mixer(SRMSNorm(x)). */
final class MetalaLayer extends Module {
    private final MetalaAttention tokenMixer;
    private final RMSNorm tokenNorm;
    private final MetalaGlu channelMixer;
    private final RMSNorm channelNorm;

    MetalaLayer(MetalaConfig c, Rng rng) {
        tokenMixer = child("token_mixer", new MetalaAttention(c, rng));
        tokenNorm = child("token_norm", new RMSNorm(c.embedDim(), MetalaModel.SRMS_EPS, false));
        channelMixer = child("channel_mixer", new MetalaGlu(c, rng));
        channelNorm = child("channel_norm", new RMSNorm(c.embedDim(), MetalaModel.SRMS_EPS, false));
    }

    Tensor forward(Tensor x, MetalaCache.Layer cache) {
        Tensor h = Elementwise.add(x, tokenMixer.forward(tokenNorm.forward(x), cache));
        return Elementwise.add(h, channelMixer.forward(channelNorm.forward(h)));
    }
}
