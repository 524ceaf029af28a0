package fulgur.models.metala;

import fulgur.models.DecodeCache;
import fulgur.models.LanguageModel;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Losses;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * MetaLA for causal language modelling, as the official MetaLAForCausalLM (BICLab/MetaLA): parameter names match
 * ("model.embed_tokens.weight", "model.layers.0.token_mixer.q_proj.weight", ..."token_mixer.conv1d.weight" [d,1,K],
 * "token_mixer.aug_balance", "channel_mixer.l1.weight", "lm_head.weight" unless tied). The norms have no weights.
 */
public final class MetalaModel extends Module implements LanguageModel {
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

    public MetalaModel(MetalaConfig config, long seed) {
        this.config = config.validate();
        Rng rng = new Rng(seed);
        this.core = child("model", new Core(config, rng));
        this.lmHead = config.tieWordEmbeddings() ? null : child("lm_head", linear(config.embedDim(), config.vocabSize(), false, rng, config.initStd()));
    }

    /**
     * A Linear with N(0, std²) weights and zero bias: the official _init_weights, which (run by transformers'
     * post_init after construction) also overrides the token mixer's xavier init of q_proj and k_gate.
     */
    static Linear linear(int in, int out, boolean bias, Rng rng, double std) {
        return new Linear(rng.normal(0, std, out, in), bias ? Tensor.zeros(out) : null);
    }

    public MetalaConfig config() {
        return config;
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public String describe() {
        return String.format("MetaLA, %d layers, width %d, %d heads", config.layers(), config.embedDim(), config.heads());
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
    public Tensor forward(Tensor ids) {
        return forward(ids, (MetalaCache) null);
    }

    @Override
    public Tensor forward(Tensor ids, DecodeCache cache) {
        if (!(cache instanceof MetalaCache mc)) {
            throw new IllegalArgumentException("MetalaModel.forward: expected a MetalaCache, got " + (cache == null ? "null" : cache.getClass().getSimpleName()));
        }
        return forward(ids, mc);
    }

    /** Token ids [B, T] → logits [B, T, vocab]; with a cache, continues decoding from it and advances it. */
    public Tensor forward(Tensor ids, MetalaCache cache) {
        if (ids.ndim() != 2) {
            throw new IllegalArgumentException("MetalaModel.forward: expected token ids [B, T], got " + ids.describe());
        }
        Tensor x = core.embedTokens.forward(ids);
        if (!config.noScaleEmbedding()) {
            x = Elementwise.mulScalar(x, Math.sqrt(config.embedDim()));
        }
        for (int l = 0; l < core.layers.size(); l++) {
            x = core.layers.get(l).forward(x, cache == null ? null : cache.layers.get(l));
        }
        x = core.finalNorm.forward(x);
        return lmHead != null ? lmHead.forward(x) : LinearAlgebra.linear(x, core.embedTokens.weight().value(), null);
    }

    @Override
    public Tensor loss(Tensor inputs, Tensor targets) {
        Tensor logits = forward(inputs);
        return Losses.crossEntropy(Views.reshape(logits, -1, config.vocabSize()), targets);
    }

    @Override
    public MetalaCache newCache() {
        return new MetalaCache(config.layers());
    }
}
