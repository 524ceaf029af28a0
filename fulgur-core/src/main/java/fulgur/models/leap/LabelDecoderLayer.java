package fulgur.models.leap;

import fulgur.nn.Dropout;
import fulgur.nn.LayerNorm;
import fulgur.nn.Module;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * One LEAP layer: a pre-LN transformer block whose queries are the label embeddings and whose keys and values are
 * one modality's encoded segments (not normalised, as released): l ← l + dropout(Attn(LN(l), F)), then
 * l ← l + dropout(FFN(LN(l))). The label embeddings are so "projected onto" the segments that carry their event.
 */
final class LabelDecoderLayer extends Module {
    /** The updated label states [B, C, D] and, when asked for, the segment scores [B, H, C, T]. */
    record Output(Tensor labels, Tensor scores) {}

    private final LayerNorm norm1;
    private final MultiHeadAttention attn;
    private final LayerNorm norm2;
    private final FeedForward ffn;
    private final Dropout dropout;
    private final boolean scoresFromUpdatedQueries;

    LabelDecoderLayer(LeapConfig c, Rng rng, Rng dropoutRng) {
        norm1 = child("norm1", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
        attn = child(
                "attn",
                new MultiHeadAttention(c.hiddenSize(), c.decoderHeads(), c.attentionDropout(), rng, dropoutRng));
        norm2 = child("norm2", new LayerNorm(c.hiddenSize(), c.layerNormEps(), true));
        ffn = child("ffn", new FeedForward(c.hiddenSize(), c.decoderFfnDim(), c.decoderDropout(), rng, dropoutRng));
        dropout = child("dropout", new Dropout(c.decoderDropout(), dropoutRng));
        scoresFromUpdatedQueries = LeapConfig.UPDATED_QUERIES.equals(c.segmentScores());
    }

    /**
     * labels [B, C, D], segments [B, T, D]. With {@code wantScores}, also the pre-softmax scores of the label queries
     * over the segments: those of this attention, or (released code) of the residual-updated labels, unnormalised,
     * projected again by the same attention.
     */
    Output forward(Tensor labels, Tensor segments, boolean wantScores) {
        MultiHeadAttention.Attended a = attn.attend(norm1.forward(labels), segments);
        Tensor l = labels.add(dropout.forward(a.output()));
        Tensor scores = !wantScores ? null : scoresFromUpdatedQueries ? attn.scores(l, segments) : a.scores();
        return new Output(l.add(dropout.forward(ffn.forward(norm2.forward(l)))), scores);
    }
}
