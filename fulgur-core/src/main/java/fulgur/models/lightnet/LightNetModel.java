package fulgur.models.lightnet;

import fulgur.models.DecodeCache;
import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * LightNet for causal language modelling as fla's LightNetForCausalLM: parameter names are fla-hub's
 * ("model.embeddings.weight", "model.layers.0.attn.q_proj.weight", "model.layers.0.attn.g_proj.1.weight",
 * "model.layers.0.mlp.gate_proj.weight", "model.norm.weight", "lm_head.weight" unless tied), so checkpoints map one
 * to one.
 */
public final class LightNetModel extends fulgur.models.DecoderLm {
    private final LightNetConfig config;
    private final Core core;
    private final Linear lmHead;

    /** The decoder stack, named "model" as in fla. */
    static final class Core extends Module {
        final Embedding embeddings;
        final ModuleList<LightNetBlock> layers;
        final RMSNorm norm;

        Core(LightNetConfig c, LightNetInit init) {
            embeddings = child("embeddings", init.embedding(c.vocabSize(), c.hiddenSize()));
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                layers.add(new LightNetBlock(c, init));
            }
            norm = child("norm", new RMSNorm(c.hiddenSize(), c.normEps(), true));
        }
    }

    /**
     * A freshly initialised model (fla's init: N(0, initializer_range²)).
     *
     * @param config the configuration, validated here
     * @param seed the seed of the initial weights
     * @throws IllegalArgumentException when the config is invalid
     */
    public LightNetModel(LightNetConfig config, long seed) {
        this.config = config.validate();
        LightNetInit init = new LightNetInit(new Rng(seed), config.initializerRange());
        this.core = child("model", new Core(config, init));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", init.linear(config.hiddenSize(), config.vocabSize()));
    }

    /** {@return the configuration} */
    public LightNetConfig config() {
        return config;
    }

    @Override
    public String describe() {
        return String.format(
                "LightNet, %d layers, width %d, %d heads",
                config.numHiddenLayers(), config.hiddenSize(), config.heads());
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String configJson() {
        return config.toJson();
    }

    @Override
    protected boolean ownsCache(DecodeCache cache) {
        return cache instanceof LightNetCache;
    }

    @Override
    protected Tensor outputWeight() {
        return lmHead != null
                ? lmHead.weight().value()
                : core.embeddings.weight().value();
    }

    /** With a cache: continues decoding from it (prefill when empty) and advances it. */
    @Override
    protected Tensor hidden(Tensor ids, DecodeCache dc, SequenceShard shard) {
        requireLocal(shard);
        LightNetCache cache = (LightNetCache) dc;
        Tensor x = core.embeddings.forward(ids);
        for (int l = 0; l < core.layers.size(); l++) {
            LightNetBlock block = core.layers.get(l);
            LightNetCache.Layer lc = cache == null ? null : cache.layers.get(l);
            int index = l;
            x = layer(y -> block.forward(y, lc, shard.carry(), index), x, cache, shard, block);
        }
        return core.norm.forward(x);
    }

    @Override
    public LightNetCache newCache() {
        return new LightNetCache(config.numHiddenLayers());
    }

    /** A cache over rows of a state pool (batched decoding): per layer S, then z. */
    @Override
    public LightNetCache newCache(fulgur.models.BatchState batch) {
        return new LightNetCache(config.numHiddenLayers(), batch);
    }
}
