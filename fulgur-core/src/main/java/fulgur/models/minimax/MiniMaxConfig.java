package fulgur.models.minimax;

import com.fasterxml.jackson.annotation.JsonAlias;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * MiniMax-Text-01 configuration with the field names of transformers' {@code MiniMaxConfig} (the Mixtral fields plus
 * {@code attn_type_list} — 0 lightning, 1 softmax per layer —, {@code block_size}, {@code postnorm} and the
 * {@code layernorm_*_alpha/beta} residual factors) and MiniMax-Text-01's {@code rotary_dim} (RoPE on the first
 * rotary_dim features of each softmax head; absent: the whole head). Unknown fields are ignored; absent ones take
 * transformers' defaults. A config with neither attn_type_list nor layer_types is a transformers config that left
 * layer_types at its default (transformers writes only fields that differ from the defaults): softmax attention in
 * every even layer, lightning in every odd one, post-norm.
 *
 * <p>{@code output_router_logits} decides, as in transformers, whether the training loss includes the routers'
 * load-balancing loss (absent: no); {@link #small} sets it, so fulgur's own models train with it.
 *
 * @param modelType {@code model_type}, "minimax"
 * @param vocabSize {@code vocab_size}: token ids
 * @param hiddenSize {@code hidden_size}: the model width
 * @param intermediateSize {@code intermediate_size}: each expert's width
 * @param numHiddenLayers {@code num_hidden_layers}
 * @param numAttentionHeads {@code num_attention_heads}: query heads
 * @param numKeyValueHeads {@code num_key_value_heads}: key/value heads of the softmax layers (GQA)
 * @param headDim {@code head_dim}, or null for hidden_size / num_attention_heads
 * @param rotaryDim {@code rotary_dim}: the features of each softmax head RoPE rotates, or null for all
 * @param hiddenAct {@code hidden_act}: "silu"
 * @param maxPositionEmbeddings {@code max_position_embeddings}: carried for the reference
 * @param initializerRange {@code initializer_range}: the std of the initial weights
 * @param rmsNormEps {@code rms_norm_eps}: the RMS norms' ε
 * @param ropeTheta {@code rope_theta}: RoPE's base
 * @param tieWordEmbeddings {@code tie_word_embeddings}
 * @param slidingWindow {@code sliding_window}: must be absent (no sliding window)
 * @param numExpertsPerTok {@code num_experts_per_tok}: the experts each token is routed to (top-k)
 * @param numLocalExperts {@code num_local_experts}: the experts of each layer
 * @param routerAuxLossCoef {@code router_aux_loss_coef}: the weight of the load-balancing loss
 * @param routerJitterNoise {@code router_jitter_noise}: must be 0
 * @param attnTypeList {@code attn_type_list}: per layer, 0 lightning or 1 softmax attention
 * @param blockSize {@code block_size}: the lightning kernel's block, carried for the reference
 * @param postnorm {@code postnorm}: whether the residual takes the normalised input (MiniMax-01's form)
 * @param layernormFullAttentionAlpha {@code layernorm_full_attention_alpha}: α on a softmax layer's residual input
 * @param layernormFullAttentionBeta {@code layernorm_full_attention_beta}: β on its output
 * @param layernormLinearAttentionAlpha {@code layernorm_linear_attention_alpha}: α on a lightning layer's residual
 *     input
 * @param layernormLinearAttentionBeta {@code layernorm_linear_attention_beta}: β on its output
 * @param layernormMlpAlpha {@code layernorm_mlp_alpha}: α on the MoE block's residual input
 * @param layernormMlpBeta {@code layernorm_mlp_beta}: β on its output
 * @param padTokenId {@code pad_token_id}, or null
 * @param bosTokenId {@code bos_token_id}, or null
 * @param eosTokenId {@code eos_token_id}, or null
 * @param layerTypes {@code layer_types}: newer transformers' per-layer "full_attention"/"linear_attention", read into
 *     attn_type_list
 * @param ropeParameters {@code rope_parameters}: newer transformers' rotary settings, read into rope_theta
 * @param outputRouterLogits {@code output_router_logits}: whether training adds the load-balancing loss
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MiniMaxConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("intermediate_size") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numHiddenLayers,
        @JsonProperty("num_attention_heads") int numAttentionHeads,
        @JsonProperty("num_key_value_heads") Integer numKeyValueHeads,
        @JsonProperty("head_dim") Integer headDim,
        @JsonProperty("rotary_dim") Integer rotaryDim,
        @JsonProperty("hidden_act") String hiddenAct,
        @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
        @JsonProperty("initializer_range") Double initializerRange,
        @JsonProperty("rms_norm_eps") Double rmsNormEps,
        @JsonProperty("rope_theta") Double ropeTheta,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
        @JsonProperty("sliding_window") Integer slidingWindow,
        @JsonProperty("num_experts_per_tok") Integer numExpertsPerTok,
        @JsonProperty("num_local_experts") Integer numLocalExperts,
        @JsonProperty("router_aux_loss_coef") Double routerAuxLossCoef,
        @JsonProperty("router_jitter_noise") Double routerJitterNoise,
        @JsonProperty("attn_type_list") List<Integer> attnTypeList,
        @JsonProperty("block_size") Integer blockSize,
        @JsonProperty("postnorm") Boolean postnorm,

        @JsonProperty("layernorm_full_attention_alpha") @JsonAlias("full_attn_alpha_factor")
        Double layernormFullAttentionAlpha,

        @JsonProperty("layernorm_full_attention_beta") @JsonAlias("full_attn_beta_factor")
        Double layernormFullAttentionBeta,

        @JsonProperty("layernorm_linear_attention_alpha") @JsonAlias("linear_attn_alpha_factor")
        Double layernormLinearAttentionAlpha,

        @JsonProperty("layernorm_linear_attention_beta") @JsonAlias("linear_attn_beta_factor")
        Double layernormLinearAttentionBeta,

        @JsonProperty("layernorm_mlp_alpha") @JsonAlias("mlp_alpha_factor")
        Double layernormMlpAlpha,

        @JsonProperty("layernorm_mlp_beta") @JsonAlias("mlp_beta_factor")
        Double layernormMlpBeta,

        @JsonProperty("pad_token_id") Integer padTokenId,
        @JsonProperty("bos_token_id") Integer bosTokenId,
        @JsonProperty("eos_token_id") Integer eosTokenId,
        @JsonProperty("layer_types") List<String> layerTypes,
        @JsonProperty("rope_parameters") Map<String, Object> ropeParameters,
        @JsonProperty("output_router_logits") Boolean outputRouterLogits) {

    /** transformers' MiniMaxConfig defaults for the sizes a config.json may omit. */
    static final java.util.Map<String, Object> REFERENCE_DEFAULTS = java.util.Map.of(
            "vocab_size",
            32000,
            "hidden_size",
            4096,
            "intermediate_size",
            14336,
            "num_hidden_layers",
            32,
            "num_attention_heads",
            32);

    /** Gives absent fields the reference implementation's defaults. */
    public MiniMaxConfig {
        modelType = modelType == null ? "minimax" : modelType;
        numKeyValueHeads = numKeyValueHeads == null ? 8 : numKeyValueHeads;
        if (headDim == null && numAttentionHeads > 0) {
            headDim = hiddenSize / numAttentionHeads;
        }
        // Newer transformers write layer_types, *_factor residual weights (read through the aliases) and
        // rope_parameters, and always use the post-norm form; they are read into the fields above, never written.
        if (attnTypeList == null && layerTypes != null) {
            List<Integer> t = new ArrayList<>();
            for (String lt : layerTypes) {
                t.add("full_attention".equals(lt) ? 1 : "linear_attention".equals(lt) ? 0 : -1);
            }
            attnTypeList = t;
            if (postnorm == null) {
                postnorm = true;
            }
        }
        if (ropeParameters != null) {
            if (ropeTheta == null && ropeParameters.get("rope_theta") instanceof Number n) {
                ropeTheta = n.doubleValue();
            }
            if (rotaryDim == null
                    && ropeParameters.get("partial_rotary_factor") instanceof Number f
                    && headDim != null) {
                rotaryDim = (int) Math.round(headDim * f.doubleValue());
            }
        }
        layerTypes = null;
        ropeParameters = null;
        rotaryDim = rotaryDim == null ? headDim : rotaryDim;
        hiddenAct = hiddenAct == null ? "silu" : hiddenAct;
        maxPositionEmbeddings = maxPositionEmbeddings == null ? 4096 * 32 : maxPositionEmbeddings;
        initializerRange = initializerRange == null ? 0.02 : initializerRange;
        rmsNormEps = rmsNormEps == null ? 1e-5 : rmsNormEps;
        ropeTheta = ropeTheta == null ? 1e6 : ropeTheta;
        tieWordEmbeddings = tieWordEmbeddings != null && tieWordEmbeddings;
        numExpertsPerTok = numExpertsPerTok == null ? 2 : numExpertsPerTok;
        numLocalExperts = numLocalExperts == null ? 8 : numLocalExperts;
        routerAuxLossCoef = routerAuxLossCoef == null ? 0.001 : routerAuxLossCoef;
        routerJitterNoise = routerJitterNoise == null ? 0.0 : routerJitterNoise;
        if (attnTypeList == null) {
            List<Integer> d = new ArrayList<>();
            for (int i = 0; i < Math.max(numHiddenLayers, 0); i++) {
                d.add((i + 1) % 2 == 1 ? 1 : 0); // transformers' default layer_types: full, linear, full, linear, ...
            }
            attnTypeList = d;
            if (postnorm == null) {
                postnorm = true;
            }
        }
        outputRouterLogits = outputRouterLogits != null && outputRouterLogits;
        attnTypeList = List.copyOf(attnTypeList);
        blockSize = blockSize == null ? 256 : blockSize;
        postnorm = postnorm != null && postnorm;
        layernormFullAttentionAlpha = layernormFullAttentionAlpha == null ? 1.0 : layernormFullAttentionAlpha;
        layernormFullAttentionBeta = layernormFullAttentionBeta == null ? 1.0 : layernormFullAttentionBeta;
        layernormLinearAttentionAlpha = layernormLinearAttentionAlpha == null ? 1.0 : layernormLinearAttentionAlpha;
        layernormLinearAttentionBeta = layernormLinearAttentionBeta == null ? 1.0 : layernormLinearAttentionBeta;
        layernormMlpAlpha = layernormMlpAlpha == null ? 1.0 : layernormMlpAlpha;
        layernormMlpBeta = layernormMlpBeta == null ? 1.0 : layernormMlpBeta;
    }

    /**
     * MiniMax-Text-01 itself (80 layers, 7 lightning + 1 softmax, width 6144, 64 heads of 128, 8 KV heads, RoPE on 64
     * features with θ = 10⁷, 32 experts top-2 of 9216, vocab 200 064, post-norm with α = (2·80)^¼, β = 1).
     *
     * @return the config
     */
    public static MiniMaxConfig minimaxText01() {
        double alpha = Math.pow(2 * 80, 0.25);
        return new MiniMaxConfig(
                "minimax",
                200064,
                6144,
                9216,
                80,
                64,
                8,
                128,
                64,
                "silu",
                null,
                0.02,
                1e-5,
                1e7,
                false,
                null,
                2,
                32,
                0.001,
                0.0,
                pattern(80),
                256,
                true,
                alpha,
                1.0,
                alpha,
                1.0,
                alpha,
                1.0,
                null,
                null,
                null,
                null,
                null,
                true);
    }

    /**
     * A small hybrid: a softmax layer every 8th (and, with fewer than 8 layers, the last one, so that a small model is
     * still hybrid); GQA with half the heads when even; RoPE on whole heads (as transformers' MiniMax applies it, so the
     * model converts to its layout); 4 experts top-2 of width 2·dim; MiniMax's post-norm with α = (2N)^¼, β = 1 as in
     * the released config; the load-balancing loss with coefficient 0.01 (the paper's).
     *
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param heads the number of query heads, dividing {@code dim}
     * @return the config
     */
    public static MiniMaxConfig small(int vocab, int dim, int layers, int heads) {
        int hd = dim / heads;
        double alpha = Math.pow(2.0 * layers, 0.25);
        int kv = heads % 2 == 0 ? heads / 2 : heads;
        return new MiniMaxConfig(
                "minimax",
                vocab,
                dim,
                2 * dim,
                layers,
                heads,
                kv,
                hd,
                hd,
                "silu",
                4096,
                0.02,
                1e-5,
                10000.0,
                false,
                null,
                2,
                4,
                0.01,
                0.0,
                pattern(layers),
                256,
                true,
                alpha,
                1.0,
                alpha,
                1.0,
                alpha,
                1.0,
                null,
                null,
                null,
                null,
                null,
                true);
    }

    /** 0 (lightning) except every 8th layer 1 (softmax); below 8 layers the last layer is softmax. */
    static List<Integer> pattern(int layers) {
        List<Integer> p = new ArrayList<>();
        for (int i = 0; i < layers; i++) {
            p.add((i + 1) % 8 == 0 || (layers < 8 && i == layers - 1) ? 1 : 0);
        }
        return p;
    }

    /**
     * The same config with one layer per entry of {@code types}: 0 lightning attention, 1 softmax attention.
     *
     * @param types per layer, 0 or 1
     * @return the new config
     */
    public MiniMaxConfig withAttnTypes(List<Integer> types) {
        return new MiniMaxConfig(
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                types.size(),
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                rotaryDim,
                hiddenAct,
                maxPositionEmbeddings,
                initializerRange,
                rmsNormEps,
                ropeTheta,
                tieWordEmbeddings,
                slidingWindow,
                numExpertsPerTok,
                numLocalExperts,
                routerAuxLossCoef,
                routerJitterNoise,
                types,
                blockSize,
                postnorm,
                layernormFullAttentionAlpha,
                layernormFullAttentionBeta,
                layernormLinearAttentionAlpha,
                layernormLinearAttentionBeta,
                layernormMlpAlpha,
                layernormMlpBeta,
                padTokenId,
                bosTokenId,
                eosTokenId,
                null,
                null,
                outputRouterLogits);
    }

    /**
     * The same config with the post-norm residual form (MiniMax-01's) or the pre-norm one.
     *
     * @param post true for post-norm
     * @return the new config
     */
    public MiniMaxConfig withPostnorm(boolean post) {
        return new MiniMaxConfig(
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                rotaryDim,
                hiddenAct,
                maxPositionEmbeddings,
                initializerRange,
                rmsNormEps,
                ropeTheta,
                tieWordEmbeddings,
                slidingWindow,
                numExpertsPerTok,
                numLocalExperts,
                routerAuxLossCoef,
                routerJitterNoise,
                attnTypeList,
                blockSize,
                post,
                layernormFullAttentionAlpha,
                layernormFullAttentionBeta,
                layernormLinearAttentionAlpha,
                layernormLinearAttentionBeta,
                layernormMlpAlpha,
                layernormMlpBeta,
                padTokenId,
                bosTokenId,
                eosTokenId,
                null,
                null,
                outputRouterLogits);
    }

    /**
     * The same config with RoPE on the first {@code dim} features of each softmax head.
     *
     * @param dim the rotated features per head, even
     * @return the new config
     */
    public MiniMaxConfig withRotaryDim(int dim) {
        return new MiniMaxConfig(
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                dim,
                hiddenAct,
                maxPositionEmbeddings,
                initializerRange,
                rmsNormEps,
                ropeTheta,
                tieWordEmbeddings,
                slidingWindow,
                numExpertsPerTok,
                numLocalExperts,
                routerAuxLossCoef,
                routerJitterNoise,
                attnTypeList,
                blockSize,
                postnorm,
                layernormFullAttentionAlpha,
                layernormFullAttentionBeta,
                layernormLinearAttentionAlpha,
                layernormLinearAttentionBeta,
                layernormMlpAlpha,
                layernormMlpBeta,
                padTokenId,
                bosTokenId,
                eosTokenId,
                null,
                null,
                outputRouterLogits);
    }

    /**
     * Whether layer {@code l} is softmax attention (attn_type_list 1) rather than lightning attention (0).
     *
     * @param layer the layer index
     * @return true for softmax attention
     */
    public boolean softmax(int layer) {
        return attnTypeList.get(layer) == 1;
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public MiniMaxConfig validate() {
        List<String> p = new ArrayList<>();
        if (!"minimax".equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'minimax'");
        }
        if (vocabSize <= 0) {
            p.add("vocab_size must be > 0, got " + vocabSize);
        }
        if (hiddenSize <= 0
                || intermediateSize <= 0
                || numHiddenLayers <= 0
                || numAttentionHeads <= 0
                || numKeyValueHeads <= 0
                || headDim == null
                || headDim <= 0) {
            p.add(
                    "hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, num_key_value_heads and head_dim must be > 0");
        } else {
            if (numAttentionHeads % numKeyValueHeads != 0) {
                p.add("num_attention_heads " + numAttentionHeads + " is not a multiple of num_key_value_heads "
                        + numKeyValueHeads);
            }
            if (rotaryDim <= 0 || rotaryDim > headDim || rotaryDim % 2 != 0) {
                p.add("rotary_dim " + rotaryDim + " must be even and in (0, head_dim=" + headDim + "]");
            }
        }
        if (attnTypeList.size() != numHiddenLayers) {
            p.add("attn_type_list has " + attnTypeList.size() + " entries for " + numHiddenLayers + " layers");
        }
        for (Integer t : attnTypeList) {
            if (t == null || (t != 0 && t != 1)) {
                p.add("attn_type_list entries must be 0 (lightning) or 1 (softmax), got " + t);
                break;
            }
        }
        if (numLocalExperts < 1 || numExpertsPerTok < 1 || numExpertsPerTok > numLocalExperts) {
            p.add("num_experts_per_tok " + numExpertsPerTok + " must be in [1, num_local_experts=" + numLocalExperts
                    + "]");
        }
        if (!(routerAuxLossCoef >= 0)) {
            p.add("router_aux_loss_coef must be >= 0, got " + routerAuxLossCoef);
        }
        if (routerJitterNoise != 0) {
            p.add("router_jitter_noise " + routerJitterNoise + " is not supported (expected 0)");
        }
        if (slidingWindow != null) {
            p.add("sliding_window " + slidingWindow + " is not supported");
        }
        if (!"silu".equals(hiddenAct)) {
            p.add("hidden_act '" + hiddenAct + "' is not supported (expected silu)");
        }
        if (!(ropeTheta > 0)) {
            p.add("rope_theta must be > 0, got " + ropeTheta);
        }
        if (!(rmsNormEps > 0)) {
            p.add("rms_norm_eps must be > 0, got " + rmsNormEps);
        }
        if (blockSize <= 0) {
            p.add("block_size must be > 0, got " + blockSize);
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid MiniMax config: " + String.join("; ", p));
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
    public static MiniMaxConfig parse(String json) {
        return ConfigJson.parse(json, MiniMaxConfig.class, "MiniMax", REFERENCE_DEFAULTS)
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
