package fulgur.layers;

import fulgur.nn.Linear;
import fulgur.nn.LinearInit;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Activations;
import fulgur.ops.Views;
import fulgur.ops.lightning.LightningAttentionOp;
import fulgur.tensor.Tensor;

/**
 * Linear-Llama's token mixer (LASP-2's Linear-Llama3): Llama's q_proj, k_proj, v_proj, o_proj around causal linear
 * attention instead of softmax. q and k go through SiLU (a positive-ish feature map, as TNL and MiniMax), key/value
 * heads are repeated to the query heads (GQA), the attention is the lightning op with this layer's per-head decay
 * (all-zero slopes for "basic" linear attention, no decay), and its output is RMS-normalised over all heads without a
 * gain (TNL's SRMSNorm, so no parameter beyond Llama's names) before o_proj. No RoPE: decay (or the causal sum) orders
 * the tokens.
 */
public final class LinearSelfAttention extends Module {
    private final Linear qProj;
    private final Linear kProj;
    private final Linear vProj;
    private final Linear oProj;
    private final RMSNorm norm;
    private final int heads;
    private final int kvHeads;
    private final int headDim;
    private final double[] slopes;

    public LinearSelfAttention(
            int hidden, int heads, int kvHeads, int headDim, double[] slopes, boolean bias, LinearInit init) {
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.slopes = slopes.clone();
        qProj = child("q_proj", init.linear(hidden, heads * headDim, bias));
        kProj = child("k_proj", init.linear(hidden, kvHeads * headDim, bias));
        vProj = child("v_proj", init.linear(hidden, kvHeads * headDim, bias));
        oProj = child("o_proj", init.linear(heads * headDim, hidden, bias));
        norm = new RMSNorm(heads * headDim, 1e-6, false); // no parameters: not registered as a child
    }

    public double[] slopes() {
        return slopes.clone();
    }

    /**
     * x [B, T, D] → [B, T, D], attending through {@code attention} (a sequence shard's op, or a cached recurrent state's
     * continue-and-advance when decoding).
     */
    public Tensor forward(Tensor x, LightningAttentionOp attention) {
        int b = x.size(0);
        int t = x.size(1);
        Tensor q = Views.reshape(Activations.silu(qProj.forward(x)), b, t, heads, headDim);
        Tensor k = repeatHeads(Views.reshape(Activations.silu(kProj.forward(x)), b, t, kvHeads, headDim));
        Tensor v = repeatHeads(Views.reshape(vProj.forward(x), b, t, kvHeads, headDim));
        Tensor o = attention.apply(q, k, v, slopes, 1.0);
        return oProj.forward(norm.forward(Views.reshape(o, b, t, heads * headDim)));
    }

    private Tensor repeatHeads(Tensor x) {
        int group = heads / kvHeads;
        if (group == 1) {
            return x;
        }
        int b = x.size(0), t = x.size(1);
        Tensor e = Views.expand(Views.reshape(x, b, t, kvHeads, 1, headDim), b, t, kvHeads, group, headDim);
        return Views.reshape(e.contiguous(), b, t, heads, headDim);
    }
}
