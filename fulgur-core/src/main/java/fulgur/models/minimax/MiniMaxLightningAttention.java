package fulgur.models.minimax;

import fulgur.models.HybridCache;
import fulgur.models.NormalInit;
import fulgur.models.SequenceShard;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Activations;
import fulgur.ops.GatedNormKernels;
import fulgur.ops.Views;
import fulgur.tensor.Tensor;

/**
 * MiniMax's lightning-attention token mixer (transformers' MiniMaxLightningAttention): one qkv_proj whose output is
 * laid out per head as [q_h, k_h, v_h] (it is reshaped to [B, T, H, 3·hd] and split), SiLU on q, k and v, lightning
 * attention with this layer's decay and no scaling, RMSNorm (with gain, eps 1e-6) over all heads, a full-rank sigmoid
 * output gate σ(output_gate(x)), and out_proj.
 */
final class MiniMaxLightningAttention extends Module {
    /** MiniMaxRMSNorm's default epsilon, which transformers' lightning layer keeps. */
    static final double NORM_EPS = 1e-6;

    private final Linear qkvProj;
    private final Linear outProj;
    private final Linear outputGate;
    private final RMSNorm norm;
    private final int heads;
    private final int headDim;
    final double[] slopes;

    MiniMaxLightningAttention(MiniMaxConfig c, int layer, NormalInit init) {
        heads = c.numAttentionHeads();
        headDim = c.headDim();
        int inner = heads * headDim;
        slopes = slopes(heads, layer, c.numHiddenLayers());
        norm = child("norm", new RMSNorm(inner, NORM_EPS, true));
        qkvProj = child("qkv_proj", init.linear(c.hiddenSize(), 3 * inner, false));
        outProj = child("out_proj", init.linear(inner, c.hiddenSize(), false));
        outputGate = child("output_gate", init.linear(c.hiddenSize(), inner, false));
    }

    /**
     * transformers' get_slope_rate: {@code (2^(−8/H))^(h+1) · (1 − l/(L−1+1e−5) + 1e−5)}, h = 0..H−1. For a power-of-two H
     * this is LightningDecay.minimaxSlopes; for other H it is not the ALiBi interpolation of the TNL code, and we follow
     * MiniMax's code here.
     */
    static double[] slopes(int heads, int layer, int layers) {
        double base = 1 / Math.pow(2, 8.0 / heads);
        double factor = 1 - layer / (layers - 1 + 1e-5) + 1e-5;
        double[] s = new double[heads];
        for (int h = 0; h < heads; h++) {
            s[h] = Math.pow(base, h + 1) * factor;
        }
        return s;
    }

    Tensor forward(Tensor x, HybridCache cache, int layer, SequenceShard shard) {
        int b = x.size(0);
        int t = x.size(1);
        if (cache != null && !shard.isWhole()) {
            throw new IllegalArgumentException(
                    "MiniMax attention: decoding with a cache needs the whole sequence, not a shard");
        }
        Tensor qkv = Views.reshape(Activations.silu(qkvProj.forward(x)), b, t, heads, 3 * headDim);
        Tensor[] parts = Views.chunk(qkv, 3, 3);
        Tensor q = parts[0].contiguous();
        Tensor k = parts[1].contiguous();
        Tensor v = parts[2].contiguous();
        Tensor o = cache == null
                ? shard.lightning(layer).apply(q, k, v, slopes, 1.0)
                : cache.linear(layer).attend(q, k, v, slopes, 1.0);
        return outProj.forward(norm.forwardGated(
                Views.reshape(o, b, t, heads * headDim), outputGate.forward(x), GatedNormKernels.Gate.SIGMOID));
    }
}
