package fulgur.models.tnl;

import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * TransNormerLLM for causal language modelling, as the official Hugging Face code (TransnormerForCausalLM):
 * parameter names match it ("model.embed_tokens.weight", "model.layers.0.token_mixer.qkvu_proj.weight", ...,
 * "lm_head.weight" when the head is not tied), so checkpoints map one to one.
 */
public final class TnlModel extends fulgur.models.DecoderLm {
    /** SimpleRMSNorm's epsilon in the official code (norm.py and srmsnorm_triton.py both default to 1e-6). */
    static final double SRMS_EPS = 1e-6;

    private final TnlConfig config;
    private final Core core;
    private final Linear lmHead;

    /** The decoder stack, named "model" as in the official code. */
    static final class Core extends Module {
        final Embedding embedTokens;
        final ModuleList<TnlLayer> layers;
        final RMSNorm finalNorm;

        Core(TnlConfig c, TnlInit init) {
            embedTokens = child("embed_tokens", init.embedding(c.vocabSize(), c.embedDim(), c.padTokenId()));
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.layers(); l++) {
                layers.add(new TnlLayer(c, l, LightningDecay.tnlSlopes(c.heads(), l, c.layers()), init));
            }
            finalNorm = child("final_norm", new RMSNorm(c.embedDim(), SRMS_EPS, false));
        }
    }

    /**
     * A freshly initialised model (the official init: N(0, init_std²)).
     *
     * @param config the configuration, validated here
     * @param seed the seed of the initial weights
     * @throws IllegalArgumentException when the config is invalid
     */
    public TnlModel(TnlConfig config, long seed) {
        this.config = config.validate();
        TnlInit init = new TnlInit(new Rng(seed), config.initStd());
        this.core = child("model", new Core(config, init));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", init.linear(config.embedDim(), config.vocabSize(), false));
    }

    /** {@return the configuration} */
    public TnlConfig config() {
        return config;
    }

    /**
     * Per-layer decay slopes (λ = exp(−slope)), for inspection.
     *
     * @param layer the layer index
     * @return the slope of each head
     */
    public double[] slopes(int layer) {
        return core.layers.get(layer).tokenMixer.slopes.clone();
    }

    @Override
    public String describe() {
        return String.format(
                "TransNormerLLM, %d layers, width %d, %d heads", config.layers(), config.embedDim(), config.heads());
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
    protected boolean ownsCache(fulgur.models.DecodeCache cache) {
        return cache instanceof TnlCache;
    }

    /** The output projection [vocab, width]: the embedding when tied. */
    @Override
    protected Tensor outputWeight() {
        return lmHead != null
                ? lmHead.weight().value()
                : core.embedTokens.weight().value();
    }

    /** The lightning layers reach earlier slices of a sharded sequence (or earlier chunks) through {@code shard.lightning(layer)}. */
    @Override
    protected Tensor hidden(Tensor ids, fulgur.models.DecodeCache cache, SequenceShard shard) {
        TnlCache tc = (TnlCache) cache;
        Tensor x = core.embedTokens.forward(ids);
        if (!config.noScaleEmbedding()) {
            x = Elementwise.mulScalar(x, Math.sqrt(config.embedDim()));
        }
        if (checkpointing(cache, shard)) {
            for (int l = 0; l < core.layers.size(); l++) {
                TnlLayer layer = core.layers.get(l);
                x = layer(y -> layer.forward(y, null, shard), x, cache, shard, layer);
            }
            return core.finalNorm.forward(x);
        }
        // each block's last residual sum is left to the next norm, which sums and normalises in one pass
        Tensor d = null;
        for (int l = 0; l < core.layers.size(); l++) {
            Tensor[] o = core.layers.get(l).forwardUnsummed(x, d, tc == null ? null : tc.layer(l), shard);
            x = o[0];
            d = o[1];
        }
        return d == null ? core.finalNorm.forward(x) : core.finalNorm.forwardSum(x, d)[1];
    }

    /** Without LRPE a decoding step reads no positions: only the ids and the lightning states. */
    @Override
    public boolean decodeStepCapturable() {
        for (int l = 0; l < config.layers(); l++) {
            if (config.lrpe(l)) {
                return false;
            }
        }
        return true;
    }

    /** An empty decoding cache for this model. */
    @Override
    public TnlCache newCache() {
        return new TnlCache(config.layers());
    }

    /** A cache over rows of a state pool (batched decoding): layer l's state is the batch's state l. */
    @Override
    public TnlCache newCache(fulgur.models.BatchState batch) {
        return new TnlCache(config.layers(), batch);
    }
}
