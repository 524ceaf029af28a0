package fulgur.models.hgrn2;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;

/**
 * HGRN2 configuration with the field names of fla's {@code HGRN2Config} (model_type "hgrn2"), so fla-hub configs
 * load and save interchangeably; unknown fields are ignored. As in fla's layer, {@code expand_ratio} (the per-head
 * key and value dim) decides the heads when both are given: {@code num_heads} becomes hidden_size / expand_ratio
 * (so {@code --set expand_ratio=...} on a small config just works).
 *
 * <p>{@code attn_scale} is ours (fla has no such field and ignores it): the factor on q·S. Absent, it is fla's
 * 1/√expand_ratio — fla's {@code chunk_gla} applies that default scale — so fla-hub checkpoints reproduce; the
 * official HGRN2 kernels (Doraemonzzz/hgru2-pytorch) use no scale, i.e. {@code "attn_scale": 1.0}.
 *
 * @param modelType {@code model_type}, "hgrn2"
 * @param vocabSize {@code vocab_size}: token ids
 * @param hiddenSize {@code hidden_size}: the model width
 * @param layers {@code num_hidden_layers}
 * @param attnMode {@code attn_mode}: fla's kernel choice ("chunk"); read and written, not used
 * @param numHeads {@code num_heads}: set to hidden_size / expand_ratio when expand_ratio is given
 * @param expandRatio {@code expand_ratio}: the key and value dim per head (default 128)
 * @param useShortConv {@code use_short_conv}: must be false
 * @param convSize {@code conv_size}: the short convolution's width (unused)
 * @param useLowerBound {@code use_lower_bound}: the learned layer-wise lower bound of the forget gate (default true)
 * @param hiddenRatio {@code hidden_ratio}: the MLP width ratio when intermediate_size is absent (default 4)
 * @param intermediateSize {@code intermediate_size}: the MLP width, or null for the hidden_ratio rule
 * @param hiddenAct {@code hidden_act}: "swish" (or "silu")
 * @param maxPositionEmbeddings {@code max_position_embeddings}: carried for the reference (HGRN2 has no positions)
 * @param elementwiseAffine {@code elementwise_affine}: whether the norms have gains
 * @param normEps {@code norm_eps}: the RMS norms' ε (default 1e-6)
 * @param attn {@code attn}: fla's hybrid attention layers; must be absent
 * @param useCache {@code use_cache}: carried for the reference
 * @param padTokenId {@code pad_token_id}, or null
 * @param bosTokenId {@code bos_token_id}, or null
 * @param eosTokenId {@code eos_token_id}, or null
 * @param tieWordEmbeddings {@code tie_word_embeddings} (default false)
 * @param initializerRange {@code initializer_range}: the std of the initial weights (default 0.02)
 * @param fuseNorm {@code fuse_norm}: fla's kernel choice, carried
 * @param fuseSwiglu {@code fuse_swiglu}: fla's kernel choice, carried
 * @param fuseCrossEntropy {@code fuse_cross_entropy}: fla's kernel choice, carried
 * @param attnScale {@code attn_scale}: the factor on q·S, or null for 1/√expand_ratio
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Hgrn2Config(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("num_hidden_layers") int layers,
        @JsonProperty("attn_mode") String attnMode,
        @JsonProperty("num_heads") Integer numHeads,
        @JsonProperty("expand_ratio") Integer expandRatio,
        @JsonProperty("use_short_conv") Boolean useShortConv,
        @JsonProperty("conv_size") Integer convSize,
        @JsonProperty("use_lower_bound") Boolean useLowerBound,
        @JsonProperty("hidden_ratio") Integer hiddenRatio,
        @JsonProperty("intermediate_size") Integer intermediateSize,
        @JsonProperty("hidden_act") String hiddenAct,
        @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
        @JsonProperty("elementwise_affine") Boolean elementwiseAffine,
        @JsonProperty("norm_eps") Double normEps,
        @JsonProperty("attn") Object attn,
        @JsonProperty("use_cache") Boolean useCache,
        @JsonProperty("pad_token_id") Integer padTokenId,
        @JsonProperty("bos_token_id") Integer bosTokenId,
        @JsonProperty("eos_token_id") Integer eosTokenId,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
        @JsonProperty("initializer_range") Double initializerRange,
        @JsonProperty("fuse_norm") Boolean fuseNorm,
        @JsonProperty("fuse_swiglu") Boolean fuseSwiglu,
        @JsonProperty("fuse_cross_entropy") Boolean fuseCrossEntropy,
        @JsonProperty("attn_scale") Double attnScale) {

    /** fla's HGRN2Config defaults for the sizes a config.json may omit. */
    static final java.util.Map<String, Object> REFERENCE_DEFAULTS =
            java.util.Map.of("vocab_size", 32000, "hidden_size", 2048, "num_hidden_layers", 24);

    /** fla's defaults for every absent field. */
    public Hgrn2Config {
        modelType = modelType == null ? "hgrn2" : modelType;
        attnMode = attnMode == null ? "chunk" : attnMode;
        if (expandRatio == null && numHeads == null) {
            expandRatio = 128;
        }
        if (expandRatio == null && numHeads > 0) {
            expandRatio = hiddenSize / numHeads;
        } else if (expandRatio != null && expandRatio > 0 && hiddenSize % expandRatio == 0) {
            numHeads = hiddenSize / expandRatio; // fla's layer lets expand_ratio decide; keep num_heads consistent
        }
        useShortConv = useShortConv == null ? false : useShortConv;
        convSize = convSize == null ? 4 : convSize;
        useLowerBound = useLowerBound == null ? true : useLowerBound;
        hiddenRatio = hiddenRatio == null ? 4 : hiddenRatio;
        hiddenAct = hiddenAct == null ? "swish" : hiddenAct;
        maxPositionEmbeddings = maxPositionEmbeddings == null ? 2048 : maxPositionEmbeddings;
        elementwiseAffine = elementwiseAffine == null ? true : elementwiseAffine;
        normEps = normEps == null ? 1e-6 : normEps;
        useCache = useCache == null ? true : useCache;
        tieWordEmbeddings = tieWordEmbeddings == null ? false : tieWordEmbeddings;
        initializerRange = initializerRange == null ? 0.02 : initializerRange;
        fuseNorm = fuseNorm == null ? true : fuseNorm;
        fuseSwiglu = fuseSwiglu == null ? true : fuseSwiglu;
        fuseCrossEntropy = fuseCrossEntropy == null ? true : fuseCrossEntropy;
    }

    /**
     * A small model: heads = width / expand ratio; GLU width 8/3·width rounded to 8; the fla q scale.
     *
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param heads the number of heads, dividing {@code dim}
     * @return the config
     */
    public static Hgrn2Config small(int vocab, int dim, int layers, int heads) {
        int mlp = Math.max(8, (int) Math.round(dim * 8 / 3.0 / 8) * 8);
        return new Hgrn2Config(
                "hgrn2",
                vocab,
                dim,
                layers,
                null,
                null,
                dim / heads,
                null,
                null,
                null,
                null,
                mlp,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null,
                null);
    }

    /**
     * The same config with an explicit q scale (1.0 = the official HGRN2 kernels).
     *
     * @param scale the factor on q·S, or null for the default
     * @return the new config
     */
    public Hgrn2Config withAttnScale(Double scale) {
        return new Hgrn2Config(
                modelType,
                vocabSize,
                hiddenSize,
                layers,
                attnMode,
                numHeads,
                expandRatio,
                useShortConv,
                convSize,
                useLowerBound,
                hiddenRatio,
                intermediateSize,
                hiddenAct,
                maxPositionEmbeddings,
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
     * The same config with the output projection tied to the token embedding, or not.
     *
     * @param tied whether to tie
     * @return the new config
     */
    public Hgrn2Config withTiedEmbeddings(boolean tied) {
        return new Hgrn2Config(
                modelType,
                vocabSize,
                hiddenSize,
                layers,
                attnMode,
                numHeads,
                expandRatio,
                useShortConv,
                convSize,
                useLowerBound,
                hiddenRatio,
                intermediateSize,
                hiddenAct,
                maxPositionEmbeddings,
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
     * The same config with the learned lower bound of the forget gate on or off.
     *
     * @param on whether the lower bound is learned
     * @return the new config
     */
    public Hgrn2Config withLowerBound(boolean on) {
        return new Hgrn2Config(
                modelType,
                vocabSize,
                hiddenSize,
                layers,
                attnMode,
                numHeads,
                expandRatio,
                useShortConv,
                convSize,
                on,
                hiddenRatio,
                intermediateSize,
                hiddenAct,
                maxPositionEmbeddings,
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
     * Heads as fla's layer computes them: hidden_size / expand_ratio.
     *
     * @return the heads
     */
    public int heads() {
        return hiddenSize / expandRatio;
    }

    /**
     * The MLP width: intermediate_size, or fla's GatedMLP rule (2/3·ratio·hidden rounded up to 256).
     *
     * @return the width
     */
    public int mlpSize() {
        if (intermediateSize != null) {
            return intermediateSize;
        }
        int s = (int) (hiddenSize * hiddenRatio * 2 / 3.0);
        return 256 * ((s + 255) / 256);
    }

    /**
     * The factor on q·S: attn_scale, else fla's default 1/√expand_ratio.
     *
     * @return the scale
     */
    public double scale() {
        return attnScale != null ? attnScale : 1 / Math.sqrt(expandRatio);
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public Hgrn2Config validate() {
        List<String> p = new ArrayList<>();
        if (!"hgrn2".equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'hgrn2'");
        }
        if (vocabSize <= 0) {
            p.add("vocab_size must be > 0, got " + vocabSize);
        }
        if (hiddenSize <= 0 || layers <= 0) {
            p.add("hidden_size and num_hidden_layers must be > 0, got " + hiddenSize + " and " + layers);
        } else if (expandRatio == null || expandRatio <= 0 || hiddenSize % expandRatio != 0) {
            p.add("expand_ratio " + expandRatio + " must be a positive divisor of hidden_size " + hiddenSize);
        }
        if (intermediateSize != null && intermediateSize <= 0) {
            p.add("intermediate_size must be > 0, got " + intermediateSize);
        }
        if (useShortConv) {
            p.add("use_short_conv = true is not supported");
        }
        if (attn != null) {
            p.add("hybrid attention layers (attn) are not supported");
        }
        if (!"swish".equals(hiddenAct) && !"silu".equals(hiddenAct)) {
            p.add("hidden_act '" + hiddenAct + "' is not supported (expected swish)");
        }
        if (!(normEps > 0)) {
            p.add("norm_eps must be > 0, got " + normEps);
        }
        if (attnScale != null && !Double.isFinite(attnScale)) {
            p.add("attn_scale must be finite, got " + attnScale);
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid HGRN2 config: " + String.join("; ", p));
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
    public static Hgrn2Config parse(String json) {
        return ConfigJson.parse(json, Hgrn2Config.class, "HGRN2", REFERENCE_DEFAULTS)
                .validate();
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
