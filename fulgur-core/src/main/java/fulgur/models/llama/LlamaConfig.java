package fulgur.models.llama;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Llama configuration with the field names of transformers' {@code LlamaConfig} (model_type "llama"), also used by
 * Linear-Llama (model_type "linear_llama"), which adds {@code linear_attention_type}: "lightning" (TNL/MiniMax decay
 * schedule) or "basic" (no decay). Unknown fields are ignored; absent ones take transformers' defaults. Newer
 * transformers write the rotary settings as {@code rope_parameters} ({@code rope_theta}, {@code rope_type} and the
 * scaling fields); they are read into rope_theta and rope_scaling, which are what we write (transformers reads both).
 *
 * @param modelType {@code model_type}: "llama" or "linear_llama"
 * @param vocabSize {@code vocab_size}: token ids
 * @param hiddenSize {@code hidden_size}: the model width
 * @param intermediateSize {@code intermediate_size}: the SwiGLU MLP width
 * @param numHiddenLayers {@code num_hidden_layers}
 * @param numAttentionHeads {@code num_attention_heads}: query heads
 * @param numKeyValueHeads {@code num_key_value_heads}: key/value heads (GQA), dividing the query heads; null for as
 *     many
 * @param headDim {@code head_dim}, or null for hidden_size / num_attention_heads
 * @param hiddenAct {@code hidden_act}: "silu"
 * @param maxPositionEmbeddings {@code max_position_embeddings}: carried for the reference
 * @param initializerRange {@code initializer_range}: the std of the initial weights
 * @param rmsNormEps {@code rms_norm_eps}: the RMS norms' ε
 * @param ropeTheta {@code rope_theta}: RoPE's base
 * @param ropeScaling {@code rope_scaling}: null, or Llama 3.1's {@code rope_type} "llama3" with its factors
 * @param attentionBias {@code attention_bias}: whether q, k, v and o projections have biases
 * @param mlpBias {@code mlp_bias}: whether the MLP's projections have biases
 * @param tieWordEmbeddings {@code tie_word_embeddings}
 * @param padTokenId {@code pad_token_id}, or null
 * @param bosTokenId {@code bos_token_id}, or null
 * @param eosTokenId {@code eos_token_id}, or null
 * @param linearAttentionType {@code linear_attention_type} (Linear-Llama): "lightning" or "basic"
 * @param ropeParameters {@code rope_parameters}: newer transformers' rotary settings, read into rope_theta and
 *     rope_scaling
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LlamaConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("hidden_size") int hiddenSize,
        @JsonProperty("intermediate_size") int intermediateSize,
        @JsonProperty("num_hidden_layers") int numHiddenLayers,
        @JsonProperty("num_attention_heads") int numAttentionHeads,
        @JsonProperty("num_key_value_heads") Integer numKeyValueHeads,
        @JsonProperty("head_dim") Integer headDim,
        @JsonProperty("hidden_act") String hiddenAct,
        @JsonProperty("max_position_embeddings") Integer maxPositionEmbeddings,
        @JsonProperty("initializer_range") Double initializerRange,
        @JsonProperty("rms_norm_eps") Double rmsNormEps,
        @JsonProperty("rope_theta") Double ropeTheta,
        @JsonProperty("rope_scaling") Map<String, Object> ropeScaling,
        @JsonProperty("attention_bias") Boolean attentionBias,
        @JsonProperty("mlp_bias") Boolean mlpBias,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
        @JsonProperty("pad_token_id") Integer padTokenId,
        @JsonProperty("bos_token_id") Integer bosTokenId,
        @JsonProperty("eos_token_id") Integer eosTokenId,
        @JsonProperty("linear_attention_type") String linearAttentionType,
        @JsonProperty("rope_parameters") Map<String, Object> ropeParameters) {

    /** The {@code model_type} of Llama (softmax attention). */
    public static final String LLAMA = "llama";
    /** The {@code model_type} of Linear-Llama (linear attention). */
    public static final String LINEAR_LLAMA = "linear_llama";

    /** transformers' LlamaConfig defaults for the sizes a config.json may omit. */
    static final java.util.Map<String, Object> REFERENCE_DEFAULTS = java.util.Map.of(
            "vocab_size",
            32000,
            "hidden_size",
            4096,
            "intermediate_size",
            11008,
            "num_hidden_layers",
            32,
            "num_attention_heads",
            32);

    /** Gives absent fields the reference implementation's defaults. */
    public LlamaConfig {
        if (modelType == null) {
            modelType = LLAMA;
        }
        if (numKeyValueHeads == null) {
            numKeyValueHeads = numAttentionHeads;
        }
        if (headDim == null && numAttentionHeads > 0) {
            headDim = hiddenSize / numAttentionHeads;
        }
        hiddenAct = hiddenAct == null ? "silu" : hiddenAct;
        maxPositionEmbeddings = maxPositionEmbeddings == null ? 2048 : maxPositionEmbeddings;
        initializerRange = initializerRange == null ? 0.02 : initializerRange;
        rmsNormEps = rmsNormEps == null ? 1e-6 : rmsNormEps;
        attentionBias = attentionBias != null && attentionBias;
        mlpBias = mlpBias != null && mlpBias;
        tieWordEmbeddings = tieWordEmbeddings != null && tieWordEmbeddings;
        if (LINEAR_LLAMA.equals(modelType) && linearAttentionType == null) {
            linearAttentionType = "lightning";
        }
        if (ropeParameters != null) {
            if (ropeParameters.get("rope_theta") instanceof Number n) {
                ropeTheta = n.doubleValue();
            }
            Object type = ropeParameters.getOrDefault("rope_type", ropeParameters.get("type"));
            if (ropeScaling == null && type != null && !"default".equals(type)) {
                Map<String, Object> scaling = new java.util.LinkedHashMap<>(ropeParameters);
                scaling.remove("rope_theta");
                ropeScaling = scaling;
            }
            ropeParameters = null;
        }
        ropeTheta = ropeTheta == null ? 10000.0 : ropeTheta;
    }

    /**
     * A small model: width, layers, heads; GQA with half as many key/value heads when the heads are even; MLP ≈
     * 8/3·width.
     *
     * @param modelType "llama" or "linear_llama"
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param heads the number of query heads, dividing {@code dim}
     * @return the config
     */
    public static LlamaConfig small(String modelType, int vocab, int dim, int layers, int heads) {
        int ffn = Math.max(8, (int) Math.round(dim * 8 / 3.0 / 8) * 8);
        int kv = heads % 2 == 0 ? heads / 2 : heads;
        return new LlamaConfig(
                modelType,
                vocab,
                dim,
                ffn,
                layers,
                heads,
                kv,
                null,
                "silu",
                2048,
                0.02,
                1e-6,
                10000.0,
                null,
                false,
                false,
                false,
                null,
                null,
                null,
                LINEAR_LLAMA.equals(modelType) ? "lightning" : null,
                null);
    }

    /**
     * The same config with {@code linear_attention_type} "lightning" (decay) or "basic" (none), for Linear-Llama.
     *
     * @param type "lightning" or "basic"
     * @return the new config
     */
    public LlamaConfig withLinearAttentionType(String type) {
        return new LlamaConfig(
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                hiddenAct,
                maxPositionEmbeddings,
                initializerRange,
                rmsNormEps,
                ropeTheta,
                ropeScaling,
                attentionBias,
                mlpBias,
                tieWordEmbeddings,
                padTokenId,
                bosTokenId,
                eosTokenId,
                type,
                null);
    }

    /**
     * The same config with the output projection tied to the token embedding, or not.
     *
     * @param tied whether to tie
     * @return the new config
     */
    public LlamaConfig withTiedEmbeddings(boolean tied) {
        return new LlamaConfig(
                modelType,
                vocabSize,
                hiddenSize,
                intermediateSize,
                numHiddenLayers,
                numAttentionHeads,
                numKeyValueHeads,
                headDim,
                hiddenAct,
                maxPositionEmbeddings,
                initializerRange,
                rmsNormEps,
                ropeTheta,
                ropeScaling,
                attentionBias,
                mlpBias,
                tied,
                padTokenId,
                bosTokenId,
                eosTokenId,
                linearAttentionType,
                null);
    }

    /**
     * Whether the token mixers are linear attention (Linear-Llama) rather than softmax attention.
     *
     * @return true for Linear-Llama
     */
    @JsonIgnore
    public boolean isLinear() {
        return LINEAR_LLAMA.equals(modelType);
    }

    /**
     * The rotary embedding of the softmax layers: plain RoPE with rope_theta, or Llama 3.1's scaled frequencies when
     * rope_scaling has rope_type "llama3" (factor, low_freq_factor, high_freq_factor, original_max_position_embeddings).
     *
     * @return the rotary embedding
     * @throws IllegalArgumentException for an unsupported or incomplete rope_scaling
     */
    public fulgur.ops.attention.Rope rope() {
        if (ropeScaling == null) {
            return new fulgur.ops.attention.Rope(headDim, headDim, ropeTheta);
        }
        Object type = ropeScaling.getOrDefault("rope_type", ropeScaling.get("type"));
        if (!"llama3".equals(type)) {
            throw new IllegalArgumentException(
                    "rope_scaling " + ropeScaling + " is not supported (only rope_type llama3)");
        }
        double[] v = new double[4];
        String[] keys = {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"};
        for (int i = 0; i < 4; i++) {
            if (!(ropeScaling.get(keys[i]) instanceof Number n)) {
                throw new IllegalArgumentException(
                        "rope_scaling of rope_type llama3 needs a number " + keys[i] + ", got " + ropeScaling);
            }
            v[i] = n.doubleValue();
        }
        return fulgur.ops.attention.Rope.llama3(headDim, ropeTheta, v[0], v[1], v[2], v[3]);
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public LlamaConfig validate() {
        List<String> p = new ArrayList<>();
        if (!LLAMA.equals(modelType) && !LINEAR_LLAMA.equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'llama' or 'linear_llama'");
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
            if (headDim % 2 != 0) {
                p.add("head_dim " + headDim + " must be even for RoPE");
            }
        }
        if (!"silu".equals(hiddenAct)) {
            p.add("hidden_act '" + hiddenAct + "' is not supported (expected silu)");
        }
        if (ropeScaling != null) {
            try {
                rope();
            } catch (IllegalArgumentException e) {
                p.add(e.getMessage());
            }
        }
        if (!(ropeTheta > 0)) {
            p.add("rope_theta must be > 0, got " + ropeTheta);
        }
        if (!(rmsNormEps > 0)) {
            p.add("rms_norm_eps must be > 0, got " + rmsNormEps);
        }
        if (LINEAR_LLAMA.equals(modelType)
                && !"lightning".equals(linearAttentionType)
                && !"basic".equals(linearAttentionType)) {
            p.add("linear_attention_type '" + linearAttentionType + "' is not supported (expected lightning or basic)");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException(
                    "invalid " + (isLinear() ? "Linear-Llama" : "Llama") + " config: " + String.join("; ", p));
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
    public static LlamaConfig parse(String json) {
        return ConfigJson.parse(json, LlamaConfig.class, "Llama", REFERENCE_DEFAULTS)
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
