package fulgur.models.lightnet;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * LightNet configuration with the field names of fla's {@code LightNetConfig} (model_type "lightnet",
 * {@code fla/models/lightnet/configuration_lightnet.py}), so fla-hub config.json files load and save interchangeably.
 * Absent fields take fla's defaults; unknown fields are ignored. Heads: as fla's layer, {@code num_heads} null means
 * hidden_size / expand_ratio heads, {@code expand_ratio} null means hidden_size / num_heads (the key head dim); the
 * value head dim is always hidden_size / num_heads. Not supported (rejected by {@link #validate()}): short
 * convolutions and hybrid softmax-attention layers ({@code attn}).
 *
 * <p>{@code attn_scale} is ours (fla has no such field and ignores it): the factor on q·S. Absent, it is
 * 1/√(key head dim), the default scale of the fla GLA kernels that fla's LightNet layer calls without one, so fla-hub
 * checkpoints give fla's logits; {@code 1.0} is the unscaled recurrence of the paper and xmixers. The output RMSNorm
 * that follows cancels the scale except through its epsilon.
 *
 * @param modelType {@code model_type}, "lightnet"
 * @param vocabSize {@code vocab_size}: token ids
 * @param hiddenSize {@code hidden_size}: the model width
 * @param numHiddenLayers {@code num_hidden_layers}
 * @param attnMode {@code attn_mode}: fla's kernel choice, carried
 * @param numHeads {@code num_heads}, or null for hidden_size / expand_ratio
 * @param expandRatio {@code expand_ratio}: the key head dim, or null for hidden_size / num_heads
 * @param useShortConv {@code use_short_conv}: must be false
 * @param convSize {@code conv_size}: the short convolution's width (unused)
 * @param hiddenRatio {@code hidden_ratio}: the MLP width ratio when intermediate_size is absent
 * @param intermediateSize {@code intermediate_size}: the MLP width, or null for the hidden_ratio rule
 * @param hiddenAct {@code hidden_act}: "swish"
 * @param maxPositionEmbeddings {@code max_position_embeddings}: carried for the reference (no position table)
 * @param gateLowRankDim {@code gate_low_rank_dim}: the rank of the output gate's low-rank projection
 * @param elementwiseAffine {@code elementwise_affine}: whether the norms have gains
 * @param normEps {@code norm_eps}: the RMS norms' ε
 * @param attn {@code attn}: fla's hybrid attention layers; must be absent
 * @param useCache {@code use_cache}: carried for the reference
 * @param padTokenId {@code pad_token_id}, or null
 * @param bosTokenId {@code bos_token_id}, or null
 * @param eosTokenId {@code eos_token_id}, or null
 * @param tieWordEmbeddings {@code tie_word_embeddings}
 * @param initializerRange {@code initializer_range}: the std of the initial weights
 * @param fuseNorm {@code fuse_norm}: fla's kernel choice, carried
 * @param fuseSwiglu {@code fuse_swiglu}: fla's kernel choice, carried
 * @param fuseCrossEntropy {@code fuse_cross_entropy}: fla's kernel choice, carried
 * @param attnScale {@code attn_scale}: the factor on q·S, or null for 1/√(key head dim)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record LightNetConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") Integer vocabSize,
        @JsonProperty("hidden_size") Integer hiddenSize,
        @JsonProperty("num_hidden_layers") Integer numHiddenLayers,
        @JsonProperty("attn_mode") String attnMode,
        @JsonProperty("num_heads") Integer numHeads,
        @JsonProperty("expand_ratio") Integer expandRatio,
        @JsonProperty("use_short_conv") Boolean useShortConv,
        @JsonProperty("conv_size") Integer convSize,
        @JsonProperty("hidden_ratio") Integer hiddenRatio,
        @JsonProperty("intermediate_size") Integer intermediateSize,
        @JsonProperty("hidden_act") String hiddenAct,
        @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
        @JsonProperty("gate_low_rank_dim") Integer gateLowRankDim,
        @JsonProperty("elementwise_affine") Boolean elementwiseAffine,
        @JsonProperty("norm_eps") Double normEps,
        @JsonProperty("attn") Map<String, Object> attn,
        @JsonProperty("use_cache") Boolean useCache,
        @JsonProperty("pad_token_id") Integer padTokenId,
        @JsonProperty("bos_token_id") Integer bosTokenId,
        @JsonProperty("eos_token_id") Integer eosTokenId,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
        @JsonProperty("initializer_range") Double initializerRange,
        @JsonProperty("fuse_norm") Boolean fuseNorm,
        @JsonProperty("fuse_swiglu") Boolean fuseSwiglu,
        @JsonProperty("fuse_cross_entropy") Boolean fuseCrossEntropy,

        @JsonProperty("attn_scale") @JsonInclude(JsonInclude.Include.NON_NULL)
        Double attnScale) {

    /** fla's defaults for absent fields. */
    public LightNetConfig {
        modelType = modelType == null ? "lightnet" : modelType;
        vocabSize = vocabSize == null ? 32000 : vocabSize;
        hiddenSize = hiddenSize == null ? 2048 : hiddenSize;
        numHiddenLayers = numHiddenLayers == null ? 24 : numHiddenLayers;
        attnMode = attnMode == null ? "chunk" : attnMode;
        useShortConv = useShortConv == null ? Boolean.FALSE : useShortConv;
        convSize = convSize == null ? 4 : convSize;
        hiddenRatio = hiddenRatio == null ? 4 : hiddenRatio;
        hiddenAct = hiddenAct == null ? "swish" : hiddenAct;
        maxPositionEmbeddings = maxPositionEmbeddings == null ? 2048 : maxPositionEmbeddings;
        gateLowRankDim = gateLowRankDim == null ? 128 : gateLowRankDim;
        elementwiseAffine = elementwiseAffine == null ? Boolean.TRUE : elementwiseAffine;
        normEps = normEps == null ? 1e-6 : normEps;
        useCache = useCache == null ? Boolean.TRUE : useCache;
        bosTokenId = bosTokenId == null ? 1 : bosTokenId;
        eosTokenId = eosTokenId == null ? 2 : eosTokenId;
        tieWordEmbeddings = tieWordEmbeddings == null ? Boolean.FALSE : tieWordEmbeddings;
        initializerRange = initializerRange == null ? 0.02 : initializerRange;
        fuseNorm = fuseNorm == null ? Boolean.TRUE : fuseNorm;
        fuseSwiglu = fuseSwiglu == null ? Boolean.TRUE : fuseSwiglu;
        fuseCrossEntropy = fuseCrossEntropy == null ? Boolean.TRUE : fuseCrossEntropy;
        // fla: expand_ratio defaults to 128 only when num_heads is absent too
        if (expandRatio == null && numHeads == null) {
            expandRatio = 128;
        }
    }

    /**
     * A small model: num_heads = heads, key head dim = value head dim = dim / heads, gate rank dim / 2.
     *
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param heads the number of heads, dividing {@code dim}
     * @return the config
     */
    public static LightNetConfig small(int vocab, int dim, int layers, int heads) {
        return new LightNetConfig(
                "lightnet",
                vocab,
                dim,
                layers,
                "chunk",
                heads,
                null,
                false,
                4,
                4,
                null,
                "swish",
                2048,
                Math.max(1, dim / 2),
                true,
                1e-6,
                null,
                true,
                null,
                1,
                2,
                false,
                0.02,
                true,
                true,
                true,
                null);
    }

    /**
     * The same config with the output projection tied to the token embedding, or not.
     *
     * @param tied whether to tie
     * @return the new config
     */
    public LightNetConfig withTiedEmbeddings(boolean tied) {
        return new LightNetConfig(
                modelType,
                vocabSize,
                hiddenSize,
                numHiddenLayers,
                attnMode,
                numHeads,
                expandRatio,
                useShortConv,
                convSize,
                hiddenRatio,
                intermediateSize,
                hiddenAct,
                maxPositionEmbeddings,
                gateLowRankDim,
                elementwiseAffine,
                normEps,
                attn,
                useCache,
                padTokenId,
                bosTokenId,
                eosTokenId,
                tied,
                initializerRange,
                fuseNorm,
                fuseSwiglu,
                fuseCrossEntropy,
                attnScale);
    }

    /**
     * The same config with {@code num_heads} and {@code expand_ratio} (either may be null, as in fla's layer).
     *
     * @param heads {@code num_heads}, or null
     * @param expand {@code expand_ratio}, or null
     * @return the new config
     */
    public LightNetConfig withHeads(Integer heads, Integer expand) {
        return new LightNetConfig(
                modelType,
                vocabSize,
                hiddenSize,
                numHiddenLayers,
                attnMode,
                heads,
                expand,
                useShortConv,
                convSize,
                hiddenRatio,
                intermediateSize,
                hiddenAct,
                maxPositionEmbeddings,
                gateLowRankDim,
                elementwiseAffine,
                normEps,
                attn,
                useCache,
                padTokenId,
                bosTokenId,
                eosTokenId,
                tieWordEmbeddings,
                initializerRange,
                fuseNorm,
                fuseSwiglu,
                fuseCrossEntropy,
                attnScale);
    }

    /**
     * The same config with an explicit q scale (null: fla's 1/√(key head dim); 1.0: unscaled).
     *
     * @param scale the factor on q·S, or null for the default
     * @return the new config
     */
    public LightNetConfig withAttnScale(Double scale) {
        return new LightNetConfig(
                modelType,
                vocabSize,
                hiddenSize,
                numHiddenLayers,
                attnMode,
                numHeads,
                expandRatio,
                useShortConv,
                convSize,
                hiddenRatio,
                intermediateSize,
                hiddenAct,
                maxPositionEmbeddings,
                gateLowRankDim,
                elementwiseAffine,
                normEps,
                attn,
                useCache,
                padTokenId,
                bosTokenId,
                eosTokenId,
                tieWordEmbeddings,
                initializerRange,
                fuseNorm,
                fuseSwiglu,
                fuseCrossEntropy,
                scale);
    }

    /**
     * The factor on q·S: attn_scale, else fla's default 1/√(key head dim).
     *
     * @return the scale
     */
    @JsonIgnore
    public double scale() {
        return attnScale != null ? attnScale : 1 / Math.sqrt(keyHeadDim());
    }

    /**
     * Heads of the token mixer (fla's LightNetAttention.num_heads).
     *
     * @return the heads
     */
    @JsonIgnore
    public int heads() {
        return numHeads != null ? numHeads : hiddenSize / expandRatio;
    }

    /**
     * Key (feature) dim per head: fla's head_f_dim = expand_ratio.
     *
     * @return the key head dim
     */
    @JsonIgnore
    public int keyHeadDim() {
        return expandRatio != null ? expandRatio : hiddenSize / numHeads;
    }

    /**
     * Value dim per head: fla's head_i_dim = hidden_size / num_heads.
     *
     * @return the value head dim
     */
    @JsonIgnore
    public int valueHeadDim() {
        return hiddenSize / heads();
    }

    /** {@return the total key width: heads × key head dim} */
    @JsonIgnore
    public int keyDim() {
        return heads() * keyHeadDim();
    }

    /**
     * fla's GatedMLP: 2/3 · hidden_ratio · hidden_size rounded up to a multiple of 256, unless given.
     *
     * @return the MLP width
     */
    @JsonIgnore
    public int mlpDim() {
        if (intermediateSize != null) {
            return intermediateSize;
        }
        int i = (int) (hiddenSize * hiddenRatio * 2 / 3.0);
        return 256 * ((i + 255) / 256);
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public LightNetConfig validate() {
        List<String> p = new ArrayList<>();
        if (!"lightnet".equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'lightnet'");
        }
        if (vocabSize <= 0) {
            p.add("vocab_size must be > 0, got " + vocabSize);
        }
        if (hiddenSize <= 0 || numHiddenLayers <= 0) {
            p.add("hidden_size and num_hidden_layers must be > 0, got " + hiddenSize + " and " + numHiddenLayers);
        }
        if (numHeads != null && numHeads <= 0) {
            p.add("num_heads must be > 0, got " + numHeads);
        } else if (expandRatio != null && expandRatio <= 0) {
            p.add("expand_ratio must be > 0, got " + expandRatio);
        } else if (hiddenSize > 0) {
            if (numHeads == null && hiddenSize % expandRatio != 0) {
                p.add("hidden_size " + hiddenSize + " is not divisible by expand_ratio " + expandRatio);
            } else if (numHeads != null && hiddenSize % numHeads != 0) {
                p.add("hidden_size " + hiddenSize + " is not divisible by num_heads " + numHeads);
            } else if (numHeads != null && expandRatio == null && hiddenSize / numHeads == 0) {
                p.add("num_heads " + numHeads + " exceeds hidden_size " + hiddenSize);
            }
        }
        if (gateLowRankDim <= 0) {
            p.add("gate_low_rank_dim must be > 0, got " + gateLowRankDim);
        }
        if (intermediateSize != null && intermediateSize <= 0) {
            p.add("intermediate_size must be > 0, got " + intermediateSize);
        }
        if (hiddenRatio <= 0) {
            p.add("hidden_ratio must be > 0, got " + hiddenRatio);
        }
        if (!"swish".equals(hiddenAct) && !"silu".equals(hiddenAct)) {
            p.add("hidden_act '" + hiddenAct + "' is not supported (fla's GatedMLP takes swish)");
        }
        if (useShortConv) {
            p.add("use_short_conv is not supported");
        }
        if (attn != null) {
            p.add("hybrid softmax-attention layers (attn) are not supported");
        }
        if (!(normEps > 0)) {
            p.add("norm_eps must be > 0, got " + normEps);
        }
        if (attnScale != null && !Double.isFinite(attnScale)) {
            p.add("attn_scale must be finite, got " + attnScale);
        }
        if (!"chunk".equals(attnMode) && !"fused_chunk".equals(attnMode) && !"fused_recurrent".equals(attnMode)) {
            p.add("attn_mode '" + attnMode + "' is not one of chunk, fused_chunk, fused_recurrent");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid LightNet config: " + String.join("; ", p));
        }
        return this;
    }

    /**
     * Parses config.json text and {@link #validate() validates} it; the error names every problem at once.
     *
     * @param json the config.json text
     * @return the config
     * @throws IllegalArgumentException for malformed JSON or an invalid config
     */
    public static LightNetConfig parse(String json) {
        return ConfigJson.parse(json, LightNetConfig.class, "LightNet").validate();
    }

    /**
     * This config as config.json text, in the reference implementation's field names.
     *
     * @return the JSON text
     */
    public String toJson() {
        return ConfigJson.write(this);
    }
}
