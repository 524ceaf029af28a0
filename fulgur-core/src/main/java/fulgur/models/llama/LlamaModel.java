package fulgur.models.llama;

import fulgur.models.DecodeCache;
import fulgur.models.HybridCache;
import fulgur.models.LanguageModel;
import fulgur.models.NormalInit;
import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Losses;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * Llama (transformers' LlamaForCausalLM) and Linear-Llama (the same blocks with linear attention in place of softmax
 * attention, LASP-2's Linear-Llama3). Parameter names are transformers' ("model.embed_tokens.weight",
 * "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.gate_proj.weight", "model.norm.weight",
 * "lm_head.weight" unless tied), for both.
 */
public final class LlamaModel extends Module implements LanguageModel {
    private final LlamaConfig config;
    private final Core core;
    private final Linear lmHead;

    /** The decoder stack, named "model" as in transformers. */
    static final class Core extends Module {
        final Embedding embedTokens;
        final ModuleList<LlamaLayer> layers;
        final RMSNorm norm;

        Core(LlamaConfig c, NormalInit init) {
            embedTokens = child("embed_tokens", init.embedding(c.vocabSize(), c.hiddenSize()));
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                layers.add(new LlamaLayer(c, l, init));
            }
            norm = child("norm", new RMSNorm(c.hiddenSize(), c.rmsNormEps(), true));
        }
    }

    public LlamaModel(LlamaConfig config, long seed) {
        this.config = config.validate();
        NormalInit init = new NormalInit(new Rng(seed), config.initializerRange());
        this.core = child("model", new Core(config, init));
        this.lmHead = config.tieWordEmbeddings() ? null : child("lm_head", init.linear(config.hiddenSize(), config.vocabSize(), false));
    }

    public LlamaConfig config() {
        return config;
    }

    /** Per-head decay slopes of a Linear-Llama layer. */
    public double[] slopes(int layer) {
        LinearSelfAttention a = core.layers.get(layer).linear;
        if (a == null) {
            throw new IllegalArgumentException("layer " + layer + " is softmax attention");
        }
        return a.slopes();
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String describe() {
        return String.format("%s, %d layers, width %d, %d heads (%d key/value)", config.isLinear() ? "Linear-Llama (" + config.linearAttentionType() + ")" : "Llama",
                config.numHiddenLayers(), config.hiddenSize(), config.numAttentionHeads(), config.numKeyValueHeads());
    }

    @Override
    public String configJson() {
        return config.toJson();
    }

    @Override
    public Tensor forward(Tensor ids) {
        return forward(ids, null, SequenceShard.WHOLE);
    }

    @Override
    public Tensor forward(Tensor ids, DecodeCache cache) {
        if (!(cache instanceof HybridCache hc) || hc.numLayers() != config.numHiddenLayers()) {
            throw new IllegalArgumentException("LlamaModel.forward: expected this model's cache (newCache()), got " + cache);
        }
        return forward(ids, hc, SequenceShard.WHOLE);
    }

    /** Token ids of one slice of longer sequences (positions from {@code shard.positionOffset()}) → logits. */
    public Tensor forward(Tensor ids, SequenceShard shard) {
        return forward(ids, null, shard);
    }

    private Tensor forward(Tensor ids, HybridCache cache, SequenceShard shard) {
        if (ids.ndim() != 2) {
            throw new IllegalArgumentException("LlamaModel.forward: expected token ids [B, T], got " + ids.describe());
        }
        Tensor x = core.embedTokens.forward(ids);
        for (LlamaLayer layer : core.layers) {
            x = layer.forward(x, cache, shard);
        }
        if (cache != null) {
            cache.advance(ids.size(1));
        }
        x = core.norm.forward(x);
        return lmHead != null ? lmHead.forward(x) : LinearAlgebra.linear(x, core.embedTokens.weight().value(), null);
    }

    @Override
    public Tensor loss(Tensor inputs, Tensor targets) {
        return loss(inputs, targets, SequenceShard.WHOLE);
    }

    @Override
    public Tensor loss(Tensor inputs, Tensor targets, SequenceShard shard) {
        Tensor logits = forward(inputs, null, shard);
        return Losses.crossEntropy(Views.reshape(logits, -1, config.vocabSize()), targets);
    }

    /** KV caches for Llama, recurrent states for Linear-Llama. */
    @Override
    public HybridCache newCache() {
        boolean[] softmax = new boolean[config.numHiddenLayers()];
        java.util.Arrays.fill(softmax, !config.isLinear());
        return new HybridCache(softmax);
    }
}
