package fulgur.models.minimax;

import fulgur.layers.MoeFeedForward;
import fulgur.layers.SoftmaxSelfAttention;
import fulgur.models.HybridCache;
import fulgur.models.LayerAttention;
import fulgur.models.NormalInit;
import fulgur.models.SequenceShard;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.attention.Rope;
import fulgur.tensor.Tensor;

/**
 * One MiniMax decoder layer, as transformers' MiniMaxDecoderLayer: token mixer (lightning or softmax by
 * attn_type_list) then the MoE feed-forward, each as {@code x ← α·r + β·f(LN(x))} where the residual r is x, or with
 * {@code postnorm} LN(x) itself (MiniMax-01's DeepNorm-style post-norm); α, β per sub-layer kind from the config.
 */
final class MiniMaxLayer extends Module {
    private final RMSNorm inputLayernorm;
    private final RMSNorm postAttentionLayernorm;
    final MiniMaxLightningAttention lightning;
    final SoftmaxSelfAttention softmax;
    final MoeFeedForward moe;
    private final int index;
    private final boolean postnorm;
    private final double attnAlpha;
    private final double attnBeta;
    private final double mlpAlpha;
    private final double mlpBeta;

    MiniMaxLayer(MiniMaxConfig c, int index, NormalInit init) {
        this.index = index;
        this.postnorm = c.postnorm();
        if (c.softmax(index)) {
            softmax = child(
                    "self_attn",
                    new SoftmaxSelfAttention(
                            c.hiddenSize(),
                            c.numAttentionHeads(),
                            c.numKeyValueHeads(),
                            c.headDim(),
                            new Rope(c.headDim(), c.rotaryDim(), c.ropeTheta()),
                            false,
                            init));
            lightning = null;
            attnAlpha = c.layernormFullAttentionAlpha();
            attnBeta = c.layernormFullAttentionBeta();
        } else {
            lightning = child("self_attn", new MiniMaxLightningAttention(c, index, init));
            softmax = null;
            attnAlpha = c.layernormLinearAttentionAlpha();
            attnBeta = c.layernormLinearAttentionBeta();
        }
        mlpAlpha = c.layernormMlpAlpha();
        mlpBeta = c.layernormMlpBeta();
        inputLayernorm = child("input_layernorm", new RMSNorm(c.hiddenSize(), c.rmsNormEps(), true));
        postAttentionLayernorm = child("post_attention_layernorm", new RMSNorm(c.hiddenSize(), c.rmsNormEps(), true));
        MoeFeedForward.Routing routing = new MoeFeedForward.Routing(
                c.numLocalExperts(), c.numExpertsPerTok(), MoeFeedForward.Gating.SOFTMAX, true, c.routerAuxLossCoef());
        moe = child(
                "block_sparse_moe",
                new MoeFeedForward(
                        c.hiddenSize(), c.intermediateSize(), routing, (in, out) -> init.linear(in, out, false)));
    }

    Tensor forward(Tensor x, HybridCache cache, SequenceShard shard) {
        Tensor n = inputLayernorm.forward(x);
        Tensor a = softmax != null
                ? softmax.forward(
                        n, LayerAttention.positions(cache, shard), LayerAttention.softmax(cache, index, shard))
                : lightning.forward(n, cache, index, shard);
        Tensor h = residual(postnorm ? n : x, a, attnAlpha, attnBeta);
        Tensor m = postAttentionLayernorm.forward(h);
        fulgur.layers.RoutingTotals totals =
                cache == null && shard.carry() != null ? shard.carry().routing() : null;
        return residual(postnorm ? m : h, moe.forward(m, totals, index), mlpAlpha, mlpBeta);
    }

    private static Tensor residual(Tensor r, Tensor f, double alpha, double beta) {
        Tensor a = alpha == 1 ? r : Elementwise.mulScalar(r, alpha);
        Tensor b = beta == 1 ? f : Elementwise.mulScalar(f, beta);
        return Elementwise.add(a, b);
    }
}
