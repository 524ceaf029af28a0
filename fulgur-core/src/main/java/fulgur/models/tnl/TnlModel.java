package fulgur.models.tnl;

import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.Elementwise;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Losses;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * TransNormerLLM for causal language modelling, as the official Hugging Face code (TransnormerForCausalLM):
 * parameter names match it ("model.embed_tokens.weight", "model.layers.0.token_mixer.qkvu_proj.weight", ...,
 * "lm_head.weight" when the head is not tied), so checkpoints map one to one.
 */
public final class TnlModel extends Module implements fulgur.models.LanguageModel {
    /** SimpleRMSNorm's epsilon in the official code. */
    static final double SRMS_EPS = 1e-8;

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

    public TnlModel(TnlConfig config, long seed) {
        this.config = config.validate();
        TnlInit init = new TnlInit(new Rng(seed), config.initStd());
        this.core = child("model", new Core(config, init));
        this.lmHead = config.tieWordEmbeddings() ? null : child("lm_head", init.linear(config.embedDim(), config.vocabSize(), false));
    }

    public TnlConfig config() {
        return config;
    }

    /** Per-layer decay slopes (λ = exp(−slope)), for inspection. */
    public double[] slopes(int layer) {
        return core.layers.get(layer).tokenMixer.slopes.clone();
    }

    @Override
    public Module module() {
        return this;
    }

    @Override
    public String describe() {
        return String.format("TransNormerLLM, %d layers, width %d, %d heads", config.layers(), config.embedDim(), config.heads());
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
    public Tensor forward(Tensor ids, fulgur.models.DecodeCache cache) {
        if (!(cache instanceof TnlCache tc)) {
            throw new IllegalArgumentException("TnlModel.forward: expected a TnlCache, got " + cache.getClass().getSimpleName());
        }
        return forward(ids, tc);
    }

    /** Token ids [B, T] (i32/i64) → logits [B, T, vocab]. */
    @Override
    public Tensor forward(Tensor ids) {
        return forward(ids, null, SequenceShard.WHOLE);
    }

    /** With a cache: continues decoding from it (prefill when empty) and advances it. */
    public Tensor forward(Tensor ids, TnlCache cache) {
        return forward(ids, cache, SequenceShard.WHOLE);
    }

    /**
     * Token ids [B, T] of one slice of longer sequences (positions from {@code shard.positionOffset()}) → logits
     * [B, T, vocab]; the lightning layers reach earlier slices through {@code shard.lightning()}.
     */
    public Tensor forward(Tensor ids, SequenceShard shard) {
        return forward(ids, null, shard);
    }

    private Tensor forward(Tensor ids, TnlCache cache, SequenceShard shard) {
        return LinearAlgebra.linear(hidden(ids, cache, shard), headWeight(), null);
    }

    /** The output projection [vocab, width]: the embedding when tied. */
    private Tensor headWeight() {
        return lmHead != null ? lmHead.weight().value() : core.embedTokens.weight().value();
    }

    /** The final-normalised hidden states [B, T, width] that the output projection turns into logits. */
    private Tensor hidden(Tensor ids, TnlCache cache, SequenceShard shard) {
        if (ids.ndim() != 2) {
            throw new IllegalArgumentException("TnlModel.forward: expected token ids [B, T], got " + ids.describe());
        }
        Tensor x = core.embedTokens.forward(ids);
        if (!config.noScaleEmbedding()) {
            x = Elementwise.mulScalar(x, Math.sqrt(config.embedDim()));
        }
        for (int l = 0; l < core.layers.size(); l++) {
            x = core.layers.get(l).forward(x, cache == null ? null : cache.layer(l), shard);
        }
        return core.finalNorm.forward(x);
    }

    /** Mean next-token cross-entropy of inputs [B, T] against targets [B, T] (−100 ignored). */
    @Override
    public Tensor loss(Tensor inputs, Tensor targets) {
        return loss(inputs, targets, SequenceShard.WHOLE);
    }

    @Override
    public Tensor loss(Tensor inputs, Tensor targets, SequenceShard shard) {
        // projection and loss fused in chunks: the [tokens, vocab] logits never exist at once
        return Losses.linearCrossEntropy(hidden(inputs, null, shard), headWeight(), targets, Losses.IGNORE_INDEX, 0,
                Losses.linearCrossEntropyChunk(config.vocabSize()));
    }

    /** An empty decoding cache for this model. */
    @Override
    public TnlCache newCache() {
        return new TnlCache(config.layers());
    }
}
