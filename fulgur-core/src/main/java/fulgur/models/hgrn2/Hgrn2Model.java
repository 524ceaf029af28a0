package fulgur.models.hgrn2;

import fulgur.models.DecodeCache;
import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.Parameter;
import fulgur.nn.RMSNorm;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * HGRN2 for causal language modelling, as fla's HGRN2ForCausalLM: parameter names match fla-hub checkpoints
 * ("model.embeddings.weight", "model.lower_bounds", "model.layers.0.attn.q_proj.weight", ..., "model.norm.weight",
 * "lm_head.weight" unless tied).
 */
public final class Hgrn2Model extends fulgur.models.DecoderLm {
    private final Hgrn2Config config;
    private final Core core;
    private final Linear lmHead;

    /** The decoder stack, named "model" as in fla. */
    static final class Core extends Module {
        final Embedding embeddings;
        final Parameter lowerBounds;
        final ModuleList<Hgrn2Block> layers;
        final RMSNorm norm;

        Core(Hgrn2Config c, Rng rng) {
            embeddings = child("embeddings", new Embedding(c.vocabSize(), c.hiddenSize(), c.initializerRange(), rng));
            // fla initialises Γ to zeros (the official code to ones): β starts at l/L, evenly spread.
            lowerBounds =
                    c.useLowerBound() ? param("lower_bounds", Tensor.zeros(c.layers(), c.hiddenSize()), false) : null;
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.layers(); l++) {
                layers.add(new Hgrn2Block(c, rng));
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
    public Hgrn2Model(Hgrn2Config config, long seed) {
        this.config = config.validate();
        Rng rng = new Rng(seed);
        this.core = child("model", new Core(config, rng));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", linear(config.hiddenSize(), config.vocabSize(), rng, config.initializerRange()));
    }

    /** A bias-free Linear with N(0, std²) weights (fla's _init_weights). */
    static Linear linear(int in, int out, Rng rng, double std) {
        return new Linear(rng.normal(0, std, out, in), null);
    }

    /** {@return the configuration} */
    public Hgrn2Config config() {
        return config;
    }

    /**
     * The layer-wise lower bounds β [L, D]: cumulative softmax of Γ over layers minus its first row, so β_0 = 0
     * and β rises with depth below 1. Null without lower bounds.
     *
     * @return β [L, D], or null
     */
    public Tensor lowerBounds() {
        if (core.lowerBounds == null) {
            return null;
        }
        Tensor p = Activations.softmax(core.lowerBounds.value(), 0);
        return Elementwise.sub(Indexing.cumsum(p, 0), Views.narrow(p, 0, 0, 1));
    }

    @Override
    public String describe() {
        return String.format(
                "HGRN2, %d layers, width %d, %d heads (expand ratio %d)",
                config.layers(), config.hiddenSize(), config.heads(), config.expandRatio());
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
        return cache instanceof Hgrn2Cache;
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
        Hgrn2Cache cache = (Hgrn2Cache) dc;
        Tensor x = core.embeddings.forward(ids);
        Tensor beta = lowerBounds();
        for (int l = 0; l < core.layers.size(); l++) {
            Tensor lb = beta == null || l == 0 ? null : Views.select(beta, 0, l);
            Hgrn2Block block = core.layers.get(l);
            fulgur.models.RecurrentStateCache.Layer lc = cache == null ? null : cache.layer(l);
            int index = l;
            if (lb == null) {
                x = layer(y -> block.forward(y, null, lc, shard.carry(), index), x, cache, shard, block);
            } else {
                // β_l comes from the model's Γ, outside the block: checkpointed, the block forms it again with Γ among
                // its inputs
                x = layerWithLowerBound(block, x, lb, lc, shard, index, cache);
            }
        }
        return core.norm.forward(x);
    }

    /** A layer that reads this model's lower bound β_l besides x: checkpointed with Γ among its parameters. */
    private Tensor layerWithLowerBound(
            Hgrn2Block block,
            Tensor x,
            Tensor lb,
            fulgur.models.RecurrentStateCache.Layer lc,
            SequenceShard shard,
            int index,
            DecodeCache cache) {
        if (!checkpointing(cache, shard)) {
            return block.forward(x, lb, lc, shard.carry(), index);
        }
        java.util.List<Tensor> params = new java.util.ArrayList<>(
                block.parameters().stream().map(fulgur.nn.Parameter::value).toList());
        params.add(core.lowerBounds.value());
        return fulgur.autograd.Recompute.apply(
                y -> new Tensor[] {block.forward(y, Views.select(lowerBounds(), 0, index), lc, shard.carry(), index)},
                x,
                params)[0];
    }

    @Override
    public Hgrn2Cache newCache() {
        return new Hgrn2Cache(config.layers());
    }

    /** A cache over rows of a state pool (batched decoding): layer l's state is the batch's state l. */
    @Override
    public Hgrn2Cache newCache(fulgur.models.BatchState batch) {
        return new Hgrn2Cache(config.layers(), batch);
    }
}
