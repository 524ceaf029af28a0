package fulgur.models.metala;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;

/**
 * MetaLA configuration with the field names of BICLab/MetaLA's {@code MetaLAConfig} (model_type "metala"); unknown
 * fields are ignored. {@code d_conv} is ours (the official code hard-codes the short convolution's kernel to 4; the
 * paper's MQAR runs use 2); absent, it is 4.
 *
 * @param modelType {@code model_type}, "metala"
 * @param vocabSize {@code vocab_size}: token ids
 * @param embedDim {@code decoder_embed_dim}: the model width
 * @param layers {@code decoder_layers}
 * @param heads {@code decoder_attention_heads}
 * @param gluAct {@code glu_act}: silu (swish), gelu, relu or sigmoid
 * @param gluDim {@code glu_dim}: the GLU width
 * @param bias {@code bias}: whether the projections have biases
 * @param normType {@code norm_type}: "simplermsnorm"
 * @param noScaleEmbedding {@code no_scale_embedding}: true to skip the √width factor on embeddings (default true)
 * @param initStd {@code init_std}: the std of the initial weights
 * @param addBosToken {@code add_bos_token}: carried for the reference
 * @param causal {@code causal}: must be true
 * @param useCache {@code use_cache}: carried for the reference
 * @param tieWordEmbeddings {@code tie_word_embeddings}
 * @param padTokenId {@code pad_token_id}, or null
 * @param bosTokenId {@code bos_token_id}, or null
 * @param eosTokenId {@code eos_token_id}, or null
 * @param dConv {@code d_conv}: the short convolution's kernel (default 4)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MetalaConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("decoder_embed_dim") int embedDim,
        @JsonProperty("decoder_layers") int layers,
        @JsonProperty("decoder_attention_heads") int heads,
        @JsonProperty("glu_act") String gluAct,
        @JsonProperty("glu_dim") int gluDim,
        @JsonProperty("bias") boolean bias,
        @JsonProperty("norm_type") String normType,
        @JsonProperty("no_scale_embedding") Boolean noScaleEmbedding,
        @JsonProperty("init_std") Double initStd,
        @JsonProperty("add_bos_token") Boolean addBosToken,
        @JsonProperty("causal") Boolean causal,
        @JsonProperty("use_cache") Boolean useCache,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
        @JsonProperty("pad_token_id") Integer padTokenId,
        @JsonProperty("bos_token_id") Integer bosTokenId,
        @JsonProperty("eos_token_id") Integer eosTokenId,
        @JsonProperty("d_conv") Integer dConv) {

    /** The official defaults for every absent field (tie_word_embeddings: transformers' default, true). */
    public MetalaConfig {
        modelType = modelType == null ? "metala" : modelType;
        gluAct = gluAct == null ? "silu" : gluAct;
        if (gluDim == -1) {
            gluDim = embedDim;
        }
        normType = normType == null ? "simplermsnorm" : normType;
        noScaleEmbedding = noScaleEmbedding == null ? true : noScaleEmbedding;
        initStd = initStd == null ? 0.02 : initStd;
        addBosToken = addBosToken == null ? false : addBosToken;
        causal = causal == null ? true : causal;
        useCache = useCache == null ? true : useCache;
        tieWordEmbeddings = tieWordEmbeddings == null ? true : tieWordEmbeddings;
        dConv = dConv == null ? 4 : dConv;
    }

    /**
     * A small model: GLU width 8/3·width rounded to 8, untied head, kernel 4.
     *
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param heads the number of heads
     * @return the config
     */
    public static MetalaConfig small(int vocab, int dim, int layers, int heads) {
        int glu = Math.max(8, (int) Math.round(dim * 8 / 3.0 / 8) * 8);
        return new MetalaConfig(
                "metala",
                vocab,
                dim,
                layers,
                heads,
                "silu",
                glu,
                false,
                "simplermsnorm",
                true,
                0.02,
                null,
                null,
                null,
                false,
                null,
                null,
                null,
                null);
    }

    /**
     * The same config with the output projection tied to the token embedding, or not.
     *
     * @param tied whether to tie
     * @return the new config
     */
    public MetalaConfig withTiedEmbeddings(boolean tied) {
        return new MetalaConfig(
                modelType,
                vocabSize,
                embedDim,
                layers,
                heads,
                gluAct,
                gluDim,
                bias,
                normType,
                noScaleEmbedding,
                initStd,
                addBosToken,
                causal,
                useCache,
                tied,
                padTokenId,
                bosTokenId,
                eosTokenId,
                dConv);
    }

    /**
     * The same config with a short convolution of kernel {@code k} ({@code d_conv}).
     *
     * @param k the kernel, ≥ 1
     * @return the new config
     */
    public MetalaConfig withConvSize(int k) {
        return new MetalaConfig(
                modelType,
                vocabSize,
                embedDim,
                layers,
                heads,
                gluAct,
                gluDim,
                bias,
                normType,
                noScaleEmbedding,
                initStd,
                addBosToken,
                causal,
                useCache,
                tieWordEmbeddings,
                padTokenId,
                bosTokenId,
                eosTokenId,
                k);
    }

    /**
     * Total key (and decay) width: decoder_embed_dim / 2.
     *
     * @return the key width
     */
    public int keyDim() {
        return embedDim / 2;
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public MetalaConfig validate() {
        List<String> p = new ArrayList<>();
        if (!"metala".equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'metala'");
        }
        if (vocabSize <= 0) {
            p.add("vocab_size must be > 0, got " + vocabSize);
        }
        if (embedDim <= 0 || layers <= 0 || heads <= 0 || gluDim <= 0) {
            p.add("decoder_embed_dim, decoder_layers, decoder_attention_heads and glu_dim must be > 0");
        } else if (embedDim % (2 * heads) != 0) {
            p.add("decoder_embed_dim " + embedDim + " must be divisible by 2 × decoder_attention_heads = " + 2 * heads
                    + " (keys are half the width)");
        }
        if (!List.of("silu", "swish", "gelu", "relu", "sigmoid").contains(gluAct)) {
            p.add("glu_act '" + gluAct + "' is not supported (expected silu, gelu, relu or sigmoid)");
        }
        if (!"simplermsnorm".equals(normType)) {
            p.add("norm_type '" + normType + "' is not supported (expected simplermsnorm)");
        }
        if (!causal) {
            p.add("causal = false is not supported");
        }
        if (dConv < 1) {
            p.add("d_conv must be >= 1, got " + dConv);
        }
        if (!(initStd > 0)) {
            p.add("init_std must be > 0, got " + initStd);
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid MetaLA config: " + String.join("; ", p));
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
    public static MetalaConfig parse(String json) {
        return ConfigJson.parse(json, MetalaConfig.class, "MetaLA").validate();
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
