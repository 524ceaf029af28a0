package fulgur.layers;

import fulgur.nn.Linear;
import fulgur.nn.LinearInit;
import fulgur.nn.Module;
import fulgur.ops.Views;
import fulgur.ops.attention.Rope;
import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.tensor.Tensor;

/**
 * Causal grouped-query softmax self-attention with RoPE, as transformers' LlamaAttention (also MiniMax's softmax
 * layers, with a partial rotary dimension): q_proj, k_proj, v_proj, o_proj; scale 1/√head_dim. The model says where the
 * tokens sit and how they attend: through a sequence shard's op, or through the layer's KV cache when decoding.
 */
public final class SoftmaxSelfAttention extends Module {
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear oProj;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final Rope rope;

    public SoftmaxSelfAttention(
            int hidden, int heads, int kvHeads, int headDim, Rope rope, boolean bias, LinearInit init) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.rope = rope;
        qProj = child("q_proj", init.linear(hidden, heads * headDim, bias));
        kProj = child("k_proj", init.linear(hidden, kvHeads * headDim, bias));
        vProj = child("v_proj", init.linear(hidden, kvHeads * headDim, bias));
        oProj = child("o_proj", init.linear(heads * headDim, hidden, bias));
    }

    /**
     * x [B, T, D] → [B, T, D] for tokens at whole-sequence positions {@code positionOffsets} onwards (RoPE: one offset
     * for every row, or one per row when rows of a decoding batch stand at different positions), attending causally
     * through {@code attention} (a sequence shard's op, or a KV cache's append-and-attend).
     */
    public Tensor forward(Tensor x, long[] positionOffsets, SoftmaxAttentionOp attention) {
        int b = x.size(0);
        int t = x.size(1);
        Tensor q = rope.apply(Views.reshape(qProj.forward(x), b, t, heads, headDim), positionOffsets);
        Tensor k = rope.apply(Views.reshape(kProj.forward(x), b, t, kvHeads, headDim), positionOffsets);
        Tensor v = Views.reshape(vProj.forward(x), b, t, kvHeads, headDim);
        double scale = 1 / Math.sqrt(headDim);
        Tensor o = attention.apply(q, k, v, scale, true);
        return oProj.forward(Views.reshape(o, b, t, heads * headDim));
    }
}
