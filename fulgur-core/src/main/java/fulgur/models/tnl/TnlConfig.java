package fulgur.models.tnl;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * TransNormerLLM configuration with the field names of the official Hugging Face {@code config.json}
 * (OpenNLPLab's TransnormerConfig), so configs load and save interchangeably. Unknown fields are ignored.
 * {@code linear_use_lrpe_list} is kept with one 0/1 flag per layer (an absent or empty list becomes all zeros): the
 * official model reads the flag of every layer from it and fails on an empty list.
 *
 * @param modelType {@code model_type}, "transnormer"
 * @param vocabSize {@code vocab_size}: token ids
 * @param embedDim {@code decoder_embed_dim}: the model width
 * @param layers {@code decoder_layers}
 * @param heads {@code decoder_attention_heads}
 * @param hiddenDim {@code hidden_dim}: the token mixer's inner width, divided among the heads
 * @param gluDim {@code glu_dim}: the GLU width
 * @param lrpeLayers {@code linear_use_lrpe_list}: one 0/1 LRPE flag per layer
 * @param noScaleEmbedding {@code no_scale_embedding}: true to skip the √width factor on embeddings
 * @param normType {@code norm_type}: "simplermsnorm"
 * @param actFun {@code linear_act_fun}: the activation on q and k, "silu" (or "swish")
 * @param bias {@code bias}: whether the projections have biases
 * @param initStd {@code init_std}: the std of the initial weights
 * @param tieWordEmbeddings {@code tie_word_embeddings}
 * @param padTokenId {@code pad_token_id}, or null
 * @param bosTokenId {@code bos_token_id}, or null
 * @param eosTokenId {@code eos_token_id}, or null
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record TnlConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("decoder_embed_dim") int embedDim,
        @JsonProperty("decoder_layers") int layers,
        @JsonProperty("decoder_attention_heads") int heads,
        @JsonProperty("hidden_dim") int hiddenDim,
        @JsonProperty("glu_dim") int gluDim,
        @JsonProperty("linear_use_lrpe_list") List<Integer> lrpeLayers,
        @JsonProperty("no_scale_embedding") boolean noScaleEmbedding,
        @JsonProperty("norm_type") String normType,
        @JsonProperty("linear_act_fun") String actFun,
        @JsonProperty("bias") boolean bias,
        @JsonProperty("init_std") double initStd,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings,
        @JsonProperty("pad_token_id") Integer padTokenId,
        @JsonProperty("bos_token_id") Integer bosTokenId,
        @JsonProperty("eos_token_id") Integer eosTokenId) {

    /**
     * TransnormerConfig's defaults for the fields a config.json may omit (the official 385M model's sizes, init_std
     * 0.02): absent, they take these values rather than 0.
     */
    public static final java.util.Map<String, Object> REFERENCE_DEFAULTS = java.util.Map.of(
            "vocab_size",
            64000,
            "decoder_embed_dim",
            1024,
            "decoder_layers",
            24,
            "decoder_attention_heads",
            8,
            "hidden_dim",
            1024,
            "glu_dim",
            2816,
            "init_std",
            0.02);

    /** Gives absent fields the reference implementation's defaults. */
    public TnlConfig {
        if (modelType == null) {
            modelType = "transnormer";
        }
        if (lrpeLayers == null) {
            lrpeLayers = List.of();
        }
        if (normType == null) {
            normType = "simplermsnorm";
        }
        if (actFun == null) {
            actFun = "silu";
        }
        if (tieWordEmbeddings == null) {
            tieWordEmbeddings = true;
        }
        if (gluDim == -1) {
            gluDim = embedDim;
        }
        if (lrpeLayers.isEmpty() && layers > 0) {
            lrpeLayers = java.util.Collections.nCopies(layers, 0);
        }
        lrpeLayers = java.util.Collections.unmodifiableList(new ArrayList<>(lrpeLayers));
    }

    /**
     * The official 385M configuration (d 1024, 24 layers, 8 heads, GLU 2816, vocab 64 000, tied head).
     *
     * @return the config
     */
    public static TnlConfig tnl385m() {
        return new TnlConfig(
                "transnormer",
                64000,
                1024,
                24,
                8,
                1024,
                2816,
                List.of(),
                false,
                "simplermsnorm",
                "silu",
                false,
                0.02,
                true,
                0,
                1,
                2);
    }

    /**
     * A small model: vocabulary, width, layers, heads; hidden = width, GLU = 8/3·width rounded to 8.
     *
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param heads the number of heads, dividing {@code dim}
     * @return the config
     */
    public static TnlConfig small(int vocab, int dim, int layers, int heads) {
        int glu = (int) Math.round(dim * 8 / 3.0 / 8) * 8;
        return new TnlConfig(
                "transnormer",
                vocab,
                dim,
                layers,
                heads,
                dim,
                glu,
                List.of(),
                false,
                "simplermsnorm",
                "silu",
                false,
                0.02,
                true,
                null,
                null,
                null);
    }

    /**
     * The same config with LRPE in the layers whose flag is 1 ({@code linear_use_lrpe_list}).
     *
     * @param perLayerFlags one 0/1 flag per layer
     * @return the new config
     */
    public TnlConfig withLrpe(List<Integer> perLayerFlags) {
        return new TnlConfig(
                modelType,
                vocabSize,
                embedDim,
                layers,
                heads,
                hiddenDim,
                gluDim,
                perLayerFlags,
                noScaleEmbedding,
                normType,
                actFun,
                bias,
                initStd,
                tieWordEmbeddings,
                padTokenId,
                bosTokenId,
                eosTokenId);
    }

    /**
     * The same model initialised from N(0, std²) (std 0: zeros, nothing drawn, for weights filled afterwards).
     *
     * @param std the standard deviation, ≥ 0
     * @return the new config
     */
    public TnlConfig withInitStd(double std) {
        return new TnlConfig(
                modelType,
                vocabSize,
                embedDim,
                layers,
                heads,
                hiddenDim,
                gluDim,
                lrpeLayers,
                noScaleEmbedding,
                normType,
                actFun,
                bias,
                std,
                tieWordEmbeddings,
                padTokenId,
                bosTokenId,
                eosTokenId);
    }

    /**
     * The same config with the output projection tied to the token embedding, or not.
     *
     * @param tied whether to tie
     * @return the new config
     */
    public TnlConfig withTiedEmbeddings(boolean tied) {
        return new TnlConfig(
                modelType,
                vocabSize,
                embedDim,
                layers,
                heads,
                hiddenDim,
                gluDim,
                lrpeLayers,
                noScaleEmbedding,
                normType,
                actFun,
                bias,
                initStd,
                tied,
                padTokenId,
                bosTokenId,
                eosTokenId);
    }

    /**
     * The width of one head: {@code hidden_dim / decoder_attention_heads}.
     *
     * @return the head width
     */
    public int headDim() {
        return hiddenDim / heads;
    }

    /**
     * Whether layer {@code layer} uses LRPE.
     *
     * @param layer the layer index
     * @return true when it uses LRPE
     */
    public boolean lrpe(int layer) {
        return !lrpeLayers.isEmpty() && lrpeLayers.get(layer) != null && lrpeLayers.get(layer) != 0;
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public TnlConfig validate() {
        List<String> p = new ArrayList<>();
        if (!"transnormer".equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'transnormer'");
        }
        if (vocabSize <= 0) {
            p.add("vocab_size must be > 0, got " + vocabSize);
        }
        if (embedDim <= 0 || layers <= 0 || heads <= 0 || hiddenDim <= 0 || gluDim <= 0) {
            p.add("decoder_embed_dim, decoder_layers, decoder_attention_heads, hidden_dim and glu_dim must be > 0");
        } else if (hiddenDim % heads != 0) {
            p.add("hidden_dim " + hiddenDim + " is not divisible by decoder_attention_heads " + heads);
        }
        if (!lrpeLayers.isEmpty() && lrpeLayers.size() != layers) {
            p.add("linear_use_lrpe_list has " + lrpeLayers.size() + " entries for " + layers + " layers");
        }
        if (lrpeLayers.contains(null)) {
            p.add("linear_use_lrpe_list entries must be 0 or 1, got " + lrpeLayers);
        }
        if (!"simplermsnorm".equals(normType)) {
            p.add("norm_type '" + normType + "' is not supported (expected simplermsnorm)");
        }
        if (!"silu".equals(actFun) && !"swish".equals(actFun)) {
            p.add("linear_act_fun '" + actFun + "' is not supported (expected silu)");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid TransNormerLLM config: " + String.join("; ", p));
        }
        return this;
    }

    /**
     * Reads and validates a config.json file; the error names the file or every problem at once.
     *
     * @param file the config.json file
     * @return the config
     * @throws IllegalArgumentException when the file cannot be read, or for malformed JSON or an invalid config
     */
    public static TnlConfig read(Path file) {
        try {
            return ConfigJson.parse(Files.readString(file), TnlConfig.class, "TransNormerLLM", REFERENCE_DEFAULTS)
                    .validate();
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read TransNormerLLM config " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * Parses config.json text and {@link #validate() validates} it; the error names every problem at once.
     *
     * @param json the config.json text
     * @return the config
     * @throws IllegalArgumentException for malformed JSON or an invalid config
     */
    public static TnlConfig parse(String json) {
        return ConfigJson.parse(json, TnlConfig.class, "TransNormerLLM", REFERENCE_DEFAULTS)
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
