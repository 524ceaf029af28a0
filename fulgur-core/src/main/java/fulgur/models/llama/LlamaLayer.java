package fulgur.models.llama;

import fulgur.layers.GatedMlp;
import fulgur.layers.LinearSelfAttention;
import fulgur.layers.SoftmaxSelfAttention;
import fulgur.models.HybridCache;
import fulgur.models.LayerAttention;
import fulgur.models.NormalInit;
import fulgur.models.SequenceShard;
import fulgur.nn.Module;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.Tensor;

/** One pre-norm Llama decoder layer: x + self_attn(input_layernorm(x)), then x + mlp(post_attention_layernorm(x)). */
final class LlamaLayer extends Module {
    private final RMSNorm inputLayernorm;
    private final RMSNorm postAttentionLayernorm;
    final SoftmaxSelfAttention softmax;
    final LinearSelfAttention linear;
    private final GatedMlp mlp;
    private final int index;

    LlamaLayer(LlamaConfig c, int index, NormalInit init) {
        this.index = index;
        if (c.isLinear()) {
            double[] slopes = "basic".equals(c.linearAttentionType())
                    ? new double[c.numAttentionHeads()]
                    : LightningDecay.tnlSlopes(c.numAttentionHeads(), index, c.numHiddenLayers());
            linear = child(
                    "self_attn",
                    new LinearSelfAttention(
                            c.hiddenSize(),
                            c.numAttentionHeads(),
                            c.numKeyValueHeads(),
                            c.headDim(),
                            slopes,
                            c.attentionBias(),
                            init));
            softmax = null;
        } else {
            softmax = child(
                    "self_attn",
                    new SoftmaxSelfAttention(
                            c.hiddenSize(),
                            c.numAttentionHeads(),
                            c.numKeyValueHeads(),
                            c.headDim(),
                            c.rope(),
                            c.attentionBias(),
                            init));
            linear = null;
        }
        mlp = child(
                "mlp",
                new GatedMlp(
                        init.linear(c.hiddenSize(), c.intermediateSize(), c.mlpBias()),
                        init.linear(c.hiddenSize(), c.intermediateSize(), c.mlpBias()),
                        init.linear(c.intermediateSize(), c.hiddenSize(), c.mlpBias())));
        inputLayernorm = child("input_layernorm", new RMSNorm(c.hiddenSize(), c.rmsNormEps(), true));
        postAttentionLayernorm = child("post_attention_layernorm", new RMSNorm(c.hiddenSize(), c.rmsNormEps(), true));
    }

    Tensor forward(Tensor x, HybridCache cache, SequenceShard shard) {
        Tensor n = inputLayernorm.forward(x);
        Tensor a = softmax != null
                ? softmax.forward(
                        n, LayerAttention.positions(cache, shard), LayerAttention.softmax(cache, index, shard))
                : linear.forward(n, LayerAttention.linear(cache, index, shard));
        Tensor[] h = postAttentionLayernorm.forwardSum(x, a);
        return Elementwise.add(h[0], mlp.forward(h[1]));
    }
}
