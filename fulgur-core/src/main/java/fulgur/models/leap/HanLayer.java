package fulgur.models.leap;

import fulgur.nn.Dropout;
import fulgur.nn.LayerNorm;
import fulgur.nn.Module;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * One hybrid attention layer of HAN (Tian et al., ECCV 2020), post-LN as released: for the segments x of one
 * modality and y of the other, x ← LN(x + dropout(CrossAttn(x, y)) + dropout(SelfAttn(x))), then
 * x ← LN(x + dropout(FFN(x))).
 */
final class HanLayer extends Module {
    private final MultiHeadAttention selfAttn;
    private final MultiHeadAttention crossAttn;
    private final FeedForward ffn;
    private final LayerNorm norm1;
    private final LayerNorm norm2;
    private final Dropout dropout;

    HanLayer(LeapConfig c, Rng rng, Rng dropoutRng) {
        selfAttn = child("self_attn", new MultiHeadAttention(c.hiddenSize(), c.encoderHeads(), 0, rng, dropoutRng));
        crossAttn = child("cm_attn", new MultiHeadAttention(c.hiddenSize(), c.encoderHeads(), 0, rng, dropoutRng));
        ffn = child("ffn", new FeedForward(c.hiddenSize(), c.encoderFfnDim(), c.encoderDropout(), rng, dropoutRng));
        norm1 = child("norm1", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
        norm2 = child("norm2", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
        dropout = child("dropout", new Dropout(c.encoderDropout(), dropoutRng));
    }

    /** x, y [B, T, D] → x updated [B, T, D]. */
    Tensor forward(Tensor x, Tensor y) {
        Tensor h = norm1.forward(
                x.add(dropout.forward(crossAttn.forward(x, y))).add(dropout.forward(selfAttn.forward(x, x))));
        return norm2.forward(h.add(dropout.forward(ffn.forward(h))));
    }
}
