package fulgur.models.llama;

import fulgur.layers.LinearSelfAttention;
import fulgur.models.DecodeCache;
import fulgur.models.HybridCache;
import fulgur.models.NormalInit;
import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * Llama (transformers' LlamaForCausalLM) and Linear-Llama (the same blocks with linear attention in place of softmax
 * attention, LASP-2's Linear-Llama3). Parameter names are transformers' ("model.embed_tokens.weight",
 * "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.gate_proj.weight", "model.norm.weight",
 * "lm_head.weight" unless tied), for both.
 */
public final class LlamaModel extends fulgur.models.DecoderLm {
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

    /**
     * A freshly initialised model (transformers' init: N(0, initializer_range²), biases 0).
     *
     * @param config the configuration, validated here
     * @param seed the seed of the initial weights
     * @throws IllegalArgumentException when the config is invalid
     */
    public LlamaModel(LlamaConfig config, long seed) {
        this.config = config.validate();
        NormalInit init = new NormalInit(new Rng(seed), config.initializerRange());
        this.core = child("model", new Core(config, init));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", init.linear(config.hiddenSize(), config.vocabSize(), false));
    }

    /** {@return the configuration} */
    public LlamaConfig config() {
        return config;
    }

    /**
     * Per-head decay slopes of a Linear-Llama layer.
     *
     * @param layer the layer index
     * @return the slope of each head (λ = e^−slope)
     * @throws IllegalArgumentException when the layer is softmax attention
     */
    public double[] slopes(int layer) {
        LinearSelfAttention a = core.layers.get(layer).linear;
        if (a == null) {
            throw new IllegalArgumentException("layer " + layer + " is softmax attention");
        }
        return a.slopes();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String describe() {
        return String.format(
                "%s, %d layers, width %d, %d heads (%d key/value)",
                config.isLinear() ? "Linear-Llama (" + config.linearAttentionType() + ")" : "Llama",
                config.numHiddenLayers(),
                config.hiddenSize(),
                config.numAttentionHeads(),
                config.numKeyValueHeads());
    }

    @Override
    public String configJson() {
        return config.toJson();
    }

    @Override
    protected boolean ownsCache(DecodeCache cache) {
        return cache instanceof HybridCache hc && hc.numLayers() == config.numHiddenLayers();
    }

    @Override
    protected Tensor outputWeight() {
        return lmHead != null
                ? lmHead.weight().value()
                : core.embedTokens.weight().value();
    }

    @Override
    protected Tensor hidden(Tensor ids, DecodeCache dc, SequenceShard shard) {
        HybridCache cache = (HybridCache) dc;
        Tensor x = core.embedTokens.forward(ids);
        for (LlamaLayer layer : core.layers) {
            x = layer(y -> layer.forward(y, cache, shard), x, cache, shard, layer);
        }
        if (cache != null) {
            cache.advance(ids.size(1));
        }
        return core.norm.forward(x);
    }

    /** KV caches for Llama, recurrent states for Linear-Llama. */
    @Override
    public HybridCache newCache() {
        boolean[] softmax = new boolean[config.numHiddenLayers()];
        java.util.Arrays.fill(softmax, !config.isLinear());
        return new HybridCache(softmax);
    }

    /** A cache over rows of a state pool and their paged keys and values (batched decoding). */
    @Override
    public HybridCache newCache(fulgur.models.BatchState batch) {
        boolean[] softmax = new boolean[config.numHiddenLayers()];
        java.util.Arrays.fill(softmax, !config.isLinear());
        return new HybridCache(softmax, batch);
    }
}
