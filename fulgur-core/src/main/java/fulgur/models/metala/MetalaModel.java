package fulgur.models.metala;

import fulgur.models.DecodeCache;
import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * MetaLA for causal language modelling, as the official MetaLAForCausalLM (BICLab/MetaLA): parameter names match
 * ("model.embed_tokens.weight", "model.layers.0.token_mixer.q_proj.weight", ..."token_mixer.conv1d.weight" [d,1,K],
 * "token_mixer.aug_balance", "channel_mixer.l1.weight", "lm_head.weight" unless tied). The norms have no weights.
 */
public final class MetalaModel extends fulgur.models.DecoderLm {
    /** SimpleRMSNorm's epsilon in the official code. */
    static final double SRMS_EPS = 1e-6;

    private final MetalaConfig config;
    private final Core core;
    private final Linear lmHead;

    /** The decoder stack, named "model" as in the official code. */
    static final class Core extends Module {
        final Embedding embedTokens;
        final ModuleList<MetalaLayer> layers;
        final RMSNorm finalNorm;

        Core(MetalaConfig c, Rng rng) {
            embedTokens = child("embed_tokens", new Embedding(c.vocabSize(), c.embedDim(), c.initStd(), rng));
            Integer pad = c.padTokenId();
            if (pad != null && pad >= 0 && pad < c.vocabSize()) {
                embedTokens.weight().value().narrow(0, pad, 1).copyFrom(Tensor.zeros(1, c.embedDim()));
            }
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.layers(); l++) {
                layers.add(new MetalaLayer(c, rng));
            }
            finalNorm = child("final_norm", new RMSNorm(c.embedDim(), SRMS_EPS, false));
        }
    }

    /**
     * A freshly initialised model (N(0, init_std²) weights, as the official code).
     *
     * @param config the configuration, validated here
     * @param seed the seed of the initial weights
     * @throws IllegalArgumentException when the config is invalid
     */
    public MetalaModel(MetalaConfig config, long seed) {
        this.config = config.validate();
        Rng rng = new Rng(seed);
        this.core = child("model", new Core(config, rng));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", linear(config.embedDim(), config.vocabSize(), false, rng, config.initStd()));
    }

    /**
     * A Linear with N(0, std²) weights and zero bias: the official _init_weights, which (run by transformers'
     * post_init after construction) also overrides the token mixer's xavier init of q_proj and k_gate.
     */
    static Linear linear(int in, int out, boolean bias, Rng rng, double std) {
        return new Linear(rng.normal(0, std, out, in), bias ? Tensor.zeros(out) : null);
    }

    /** {@return the configuration} */
    public MetalaConfig config() {
        return config;
    }

    @Override
    public String describe() {
        return String.format(
                "MetaLA, %d layers, width %d, %d heads", config.layers(), config.embedDim(), config.heads());
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
        return cache instanceof MetalaCache;
    }

    @Override
    protected Tensor outputWeight() {
        return lmHead != null
                ? lmHead.weight().value()
                : core.embedTokens.weight().value();
    }

    /** With a cache: continues decoding from it (prefill when empty) and advances it. */
    @Override
    protected Tensor hidden(Tensor ids, DecodeCache dc, SequenceShard shard) {
        requireLocal(shard);
        MetalaCache cache = (MetalaCache) dc;
        Tensor x = core.embedTokens.forward(ids);
        if (!config.noScaleEmbedding()) {
            x = Elementwise.mulScalar(x, Math.sqrt(config.embedDim()));
        }
        for (int l = 0; l < core.layers.size(); l++) {
            MetalaLayer layer = core.layers.get(l);
            MetalaCache.Layer lc = cache == null ? null : cache.layers.get(l);
            int index = l;
            x = layer(y -> layer.forward(y, lc, shard.carry(), index), x, cache, shard, layer);
        }
        return core.finalNorm.forward(x);
    }

    @Override
    public MetalaCache newCache() {
        return new MetalaCache(config.layers());
    }

    /** A cache over rows of a state pool (batched decoding): per layer the GLA state, then the convolution tail. */
    @Override
    public MetalaCache newCache(fulgur.models.BatchState batch) {
        return new MetalaCache(config.layers(), config.dConv() > 1, batch);
    }
}
