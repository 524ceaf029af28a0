package fulgur.models.llama;

import fulgur.models.HybridCache;
import fulgur.models.NormalInit;
import fulgur.models.SequenceShard;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Views;
import fulgur.ops.attention.Rope;
import fulgur.tensor.Tensor;

/**
 * Causal grouped-query softmax self-attention with RoPE, as transformers' LlamaAttention (also MiniMax's softmax
 * layers, with a partial rotary dimension): q_proj, k_proj, v_proj, o_proj; scale 1/√head_dim. Decoding appends to
 * the layer's KV cache; without a cache the tokens sit at {@code shard.positionOffset()} onwards and attend through
 * {@code shard.softmax()}.
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

    public SoftmaxSelfAttention(int hidden, int heads, int kvHeads, int headDim, Rope rope, boolean bias, NormalInit init) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.rope = rope;
        qProj = child("q_proj", init.linear(hidden, heads * headDim, bias));
        kProj = child("k_proj", init.linear(hidden, kvHeads * headDim, bias));
        vProj = child("v_proj", init.linear(hidden, kvHeads * headDim, bias));
        oProj = child("o_proj", init.linear(heads * headDim, hidden, bias));
    }

    /** x [B, T, D] → [B, T, D]; with a cache, this layer's KV cache continues from the cache's position. */
    public Tensor forward(Tensor x, HybridCache cache, int layer, SequenceShard shard) {
        int b = x.size(0);
        int t = x.size(1);
        if (cache != null && !shard.isWhole()) {
            throw new IllegalArgumentException("attention: decoding with a cache needs the whole sequence, not a shard");
        }
        long[] offsets = cache == null ? new long[] {shard.positionOffset()} : cache.positions();
        Tensor q = rope.apply(Views.reshape(qProj.forward(x), b, t, heads, headDim), offsets);
        Tensor k = rope.apply(Views.reshape(kProj.forward(x), b, t, kvHeads, headDim), offsets);
        Tensor v = Views.reshape(vProj.forward(x), b, t, kvHeads, headDim);
        double scale = 1 / Math.sqrt(headDim);
        Tensor o = cache == null ? shard.softmax().apply(q, k, v, scale, true) : cache.kv(layer).attend(q, k, v, scale);
        return oProj.forward(Views.reshape(o, b, t, heads * headDim));
    }
}
