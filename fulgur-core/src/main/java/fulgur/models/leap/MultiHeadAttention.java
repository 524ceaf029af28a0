package fulgur.models.leap;

import fulgur.nn.Dropout;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Views;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * Multi-head attention of queries [B, Lq, D] over keys/values [B, Lk, D] (no mask), with q, k, v and output
 * projections as in torch's MultiheadAttention and the released LEAP code (biases, torch's default init), scale
 * 1/√(D/H). {@link #forward} runs the tiled softmax-attention op; {@link #attend} composes the same attention from
 * autograd ops and also returns the pre-softmax scores, which LEAP turns into segment-level predictions.
 */
final class MultiHeadAttention extends Module {
    /** The attention output [B, Lq, D] and the pre-softmax scaled scores [B, H, Lq, Lk]. */
    record Attended(Tensor output, Tensor scores) {}

    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear oProj;
    private final Dropout probabilityDropout;
    private final int heads;
    private final int headDim;

    MultiHeadAttention(int dim, int heads, double probabilityDropout, Rng rng, Rng dropoutRng) {
        this.heads = heads;
        this.headDim = dim / heads;
        qProj = child("q_proj", new Linear(dim, dim, true, rng));
        kProj = child("k_proj", new Linear(dim, dim, true, rng));
        vProj = child("v_proj", new Linear(dim, dim, true, rng));
        oProj = child("o_proj", new Linear(dim, dim, true, rng));
        this.probabilityDropout = child("attn_dropout", new Dropout(probabilityDropout, dropoutRng));
    }

    /** softmax(q kᵀ/√d) v per head, through the tiled attention op (no dropout on the probabilities). */
    Tensor forward(Tensor query, Tensor keyValue) {
        Tensor q = split(qProj.forward(query));
        Tensor k = split(kProj.forward(keyValue));
        Tensor v = split(vProj.forward(keyValue));
        Tensor o = SoftmaxAttention.attention(q, k, v, scale(), false, 0);
        return oProj.forward(Views.reshape(o, query.size(0), query.size(1), heads * headDim));
    }

    /** The attention with its scores; dropout applies to the probabilities in training mode. */
    Attended attend(Tensor query, Tensor keyValue) {
        Tensor scores = scores(query, keyValue);
        Tensor p = Activations.softmax(scores, -1);
        p = probabilityDropout.forward(p);
        Tensor v = Views.permute(split(vProj.forward(keyValue)), 0, 2, 1, 3); // [B, H, Lk, d]
        Tensor o = Views.permute(LinearAlgebra.matmul(p, v), 0, 2, 1, 3); // [B, Lq, H, d]
        return new Attended(
                oProj.forward(Views.reshape(o.contiguous(), query.size(0), query.size(1), heads * headDim)), scores);
    }

    /** The pre-softmax scaled scores q kᵀ/√d per head: [B, H, Lq, Lk]. */
    Tensor scores(Tensor query, Tensor keyValue) {
        Tensor q = Views.permute(split(qProj.forward(query)), 0, 2, 1, 3); // [B, H, Lq, d]
        Tensor k = Views.permute(split(kProj.forward(keyValue)), 0, 2, 1, 3); // [B, H, Lk, d]
        return LinearAlgebra.matmul(q, k, false, true).mul(scale());
    }

    private Tensor split(Tensor x) {
        return Views.reshape(x, x.size(0), x.size(1), heads, headDim);
    }

    private double scale() {
        return 1 / Math.sqrt(headDim);
    }
}
