package fulgur.models.minimax;

import fulgur.models.DecodeCache;
import fulgur.models.HybridCache;
import fulgur.models.NormalInit;
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
 * The MiniMax-Text-01-style hybrid (transformers' MiniMaxForCausalLM): lightning-attention layers and softmax GQA
 * layers with partial RoPE as attn_type_list says, an MoE feed-forward in every layer, post-norm residual scaling.
 * Parameter names are transformers' ("model.layers.0.self_attn.qkv_proj.weight", "model.layers.7.self_attn.q_proj.weight",
 * "model.layers.0.block_sparse_moe.experts.3.w1.weight", ...). The training loss adds the routers' load-balancing loss
 * (router_aux_loss_coef · E · Σ f_i P_i per layer, averaged over the layers).
 */
public final class MiniMaxModel extends fulgur.models.DecoderLm {
    private final MiniMaxConfig config;
    private final Core core;
    private final Linear lmHead;
    /** The routers' losses of the last forward when its layers ran checkpointed (their own were made and freed inside). */
    private java.util.List<Tensor> checkpointedAux;

    /** The decoder stack, named "model" as in transformers. */
    static final class Core extends Module {
        final Embedding embedTokens;
        final ModuleList<MiniMaxLayer> layers;
        final RMSNorm norm;

        Core(MiniMaxConfig c, NormalInit init) {
            embedTokens = child("embed_tokens", init.embedding(c.vocabSize(), c.hiddenSize()));
            layers = child("layers", new ModuleList<>());
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                layers.add(new MiniMaxLayer(c, l, init));
            }
            norm = child("norm", new RMSNorm(c.hiddenSize(), c.rmsNormEps(), true));
        }
    }

    /**
     * A freshly initialised model (transformers' init: N(0, initializer_range²)).
     *
     * @param config the configuration, validated here
     * @param seed the seed of the initial weights
     * @throws IllegalArgumentException when the config is invalid
     */
    public MiniMaxModel(MiniMaxConfig config, long seed) {
        this.config = config.validate();
        NormalInit init = new NormalInit(new Rng(seed), config.initializerRange());
        this.core = child("model", new Core(config, init));
        this.lmHead = config.tieWordEmbeddings()
                ? null
                : child("lm_head", init.linear(config.hiddenSize(), config.vocabSize(), false));
    }

    /** {@return the configuration} */
    public MiniMaxConfig config() {
        return config;
    }

    /**
     * Decay slopes of a lightning layer.
     *
     * @param layer the layer index
     * @return the slope of each head (λ = e^−slope)
     * @throws IllegalArgumentException when the layer is softmax attention
     */
    public double[] slopes(int layer) {
        MiniMaxLightningAttention a = core.layers.get(layer).lightning;
        if (a == null) {
            throw new IllegalArgumentException("layer " + layer + " is softmax attention");
        }
        return a.slopes.clone();
    }

    @Override
    public int vocabSize() {
        return config.vocabSize();
    }

    @Override
    public String describe() {
        long soft = config.attnTypeList().stream().filter(t -> t == 1).count();
        return String.format(
                "MiniMax hybrid, %d layers (%d softmax), width %d, %d heads (%d key/value), %d experts top-%d",
                config.numHiddenLayers(),
                soft,
                config.hiddenSize(),
                config.numAttentionHeads(),
                config.numKeyValueHeads(),
                config.numLocalExperts(),
                config.numExpertsPerTok());
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
        checkpointedAux = null;
        if (checkpointing(cache, shard)) {
            checkpointedAux = new java.util.ArrayList<>();
            for (MiniMaxLayer layer : core.layers) {
                Tensor[] out = layerWithOutputs(
                        y -> new Tensor[] {layer.forward(y, null, shard), layer.moe.auxLoss()}, x, null, shard, layer);
                x = out[0];
                checkpointedAux.add(out[1]);
            }
            return core.norm.forward(x);
        }
        for (MiniMaxLayer layer : core.layers) {
            x = layer.forward(x, cache, shard);
        }
        if (cache != null) {
            cache.advance(ids.size(1));
        }
        return core.norm.forward(x);
    }

    /**
     * The routers' load-balancing loss of the last forward, averaged over the layers (already scaled by
     * router_aux_loss_coef).
     *
     * @return the loss, a scalar, or null before a forward
     */
    public Tensor auxLoss() {
        Tensor sum = null;
        for (int l = 0; l < core.layers.size(); l++) {
            Tensor a = checkpointedAux != null
                    ? checkpointedAux.get(l)
                    : core.layers.get(l).moe.auxLoss();
            if (a == null) {
                return null;
            }
            sum = sum == null ? a : Elementwise.add(sum, a);
        }
        return Elementwise.mulScalar(sum, 1.0 / core.layers.size());
    }

    /**
     * The training loss is the cross-entropy plus the load-balancing loss when output_router_logits is set and
     * router_aux_loss_coef is not 0 (transformers adds it only then).
     */
    @Override
    protected Tensor auxiliaryLoss() {
        return config.routerAuxLossCoef() == 0 || !config.outputRouterLogits() ? null : auxLoss();
    }

    /** KV caches for the softmax layers, recurrent states for the lightning layers. */
    @Override
    public HybridCache newCache() {
        boolean[] softmax = new boolean[config.numHiddenLayers()];
        for (int l = 0; l < softmax.length; l++) {
            softmax[l] = config.softmax(l);
        }
        return new HybridCache(softmax);
    }

    /** A cache over rows of a state pool and their paged keys and values (batched decoding). */
    @Override
    public HybridCache newCache(fulgur.models.BatchState batch) {
        boolean[] softmax = new boolean[config.numHiddenLayers()];
        for (int l = 0; l < softmax.length; l++) {
            softmax[l] = config.softmax(l);
        }
        return new HybridCache(softmax, batch);
    }
}
