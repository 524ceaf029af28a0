package fulgur.models.lcsm;

import fulgur.models.DecodeCache;
import fulgur.models.SequenceShard;
import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.ModuleList;
import fulgur.nn.RMSNorm;
import fulgur.ops.lcsm.Lcsm;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * An LCSM language model: embedding, pre-norm blocks (EOS token mixer, GLU channel mixer), final RMSNorm and a
 * (tied by default) head. Names: model.embed_tokens, model.layers.N.{token_norm, token_mixer, channel_norm,
 * channel_mixer}, model.final_norm, lm_head.
 */
public final class LcsmModel extends fulgur.models.DecoderLm {
    private final LcsmConfig config;
    private final Core core;
    private final Linear lmHead;

    static final class Core extends Module {
        final Embedding embedTokens;
        final ModuleList<LcsmBlock> layers;
        final RMSNorm finalNorm;

        Core(LcsmConfig c, Rng rng) {
            embedTokens = child("embed_tokens", new Embedding(c.vocabSize(), c.embedDim(), c.initStd(), rng));
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.numLayers(); l++) {
                layers.add(new LcsmBlock(c, rng));
            }
            finalNorm = child("final_norm", new RMSNorm(c.embedDim(), c.normEps(), true));
        }
    }

    /**
     * A freshly initialised model.
     *
     * @param config the configuration, validated here
     * @param seed the seed of the initial weights
     * @throws IllegalArgumentException when the config is invalid
     */
    public LcsmModel(LcsmConfig config, long seed) {
        this.config = config.validate();
        Rng rng = new Rng(seed);
        this.core = child("model", new Core(config, rng));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", new Linear(config.embedDim(), config.vocabSize(), false, rng));
    }

    /**
     * Parameters of a config (the formula the tests check against the built model).
     *
     * @param c the configuration
     * @return the number of parameter elements
     */
    public static long parameterCount(LcsmConfig c) {
        long d = c.embedDim();
        long k = c.expandDim();
        long b = c.bias() ? 1 : 0;
        long eos = d * d + b * d; // i_proj
        if (c.cType() == 0) {
            eos += d * c.ssmDim() + b * c.ssmDim() + c.ssmDim() * d + b * d + k * d + 2 * (d * k + b * k);
        } else {
            eos += c.eType() == 1 ? d * k + b * k : k * d;
            eos += c.sType() == 1 ? d * k + b * k : k * d;
            eos += switch (c.oType()) {
                case 0 -> c.oLearned() ? k * d : 0;
                case 1 -> d * d + b * d + d * k + b * k;
                case 2 -> d * d + b * d;
                case 3 -> d * k + b * k;
                case 4 -> c.oLearned() ? k : 0;
                case 5 -> c.oLearned() ? d : 0;
                case 6 -> d * k + b * k + k * d;
                case 7 -> d * d + b * d + k * d;
                case 8 -> d * d + b * d + k;
                case 9 -> d * k + b * k + d;
                default -> 0;
            };
        }
        eos += 2 * d + d * d + b * d; // norm, output_proj
        long glu = 3 * d * c.midDim() + b * (2L * c.midDim() + d);
        long block = eos + glu + 2 * d;
        return c.vocabSize() * d + c.numLayers() * block + d + (c.tieWordEmbeddings() ? 0 : d * c.vocabSize());
    }

    /** {@return the configuration} */
    public LcsmConfig config() {
        return config;
    }

    @Override
    public String describe() {
        return String.format(
                "LCSM, %d layers, width %d, expand %d, c_type %d, e/o/s/t_type %d/%d/%d/%d",
                config.numLayers(),
                config.embedDim(),
                config.expandDim(),
                config.cType(),
                config.eType(),
                config.oType(),
                config.sType(),
                config.tType());
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
        return cache instanceof LcsmCache;
    }

    @Override
    protected Tensor outputWeight() {
        return lmHead != null
                ? lmHead.weight().value()
                : core.embedTokens.weight().value();
    }

    /** The carried part of each layer: the memory m [B, k, d]. */
    static final String MEMORY = "memory";

    /**
     * With a cache: continues decoding from it (prefill when empty) and advances it; with a carry (a chunk of a longer
     * sequence), continues from the carried memories and leaves the new ones there.
     */
    @Override
    protected Tensor hidden(Tensor ids, DecodeCache dc, SequenceShard shard) {
        requireLocal(shard);
        LcsmCache cache = (LcsmCache) dc;
        Tensor x = core.embedTokens.forward(ids);
        fulgur.models.StateCarry carry = cache == null ? shard.carry() : null;
        for (int l = 0; l < core.layers.size(); l++) {
            LcsmBlock block = core.layers.get(l);
            if (cache == null && carry == null) {
                x = layer(y -> block.forward(y, null).output(), x, null, shard, block);
                continue;
            }
            Lcsm.Result r = block.forward(x, cache != null ? cache.states.get(l) : carry.initial(l, MEMORY));
            x = r.output();
            if (cache != null) {
                cache.replace(l, r.finalState());
            } else {
                carry.carry(l, MEMORY, r.finalState());
            }
        }
        if (cache != null) {
            cache.position += ids.size(1);
        }
        return core.finalNorm.forward(x);
    }

    @Override
    public LcsmCache newCache() {
        return new LcsmCache(config.numLayers());
    }

    /** A cache over rows of a state pool (batched decoding): layer l's memory is the batch's state l. */
    @Override
    public LcsmCache newCache(fulgur.models.BatchState batch) {
        return new LcsmCache(config.numLayers(), batch);
    }
}
