package fulgur.models.lcsm;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import fulgur.models.ConfigJson;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * LCSM language-model configuration. The token-mixer fields carry the names of the official EOS layer's arguments
 * (Doraemonzzz/Lcsm {@code EosLayer(embed_dim, expand_dim, bias, c_type, e_type, o_type, o_learned, s_type, t_type,
 * ssm_dim, tau, use_tau)}); the official repository has no language model, so the model fields follow the same
 * author's xmixers naming (vocab_size, embed_dim, num_layers, mid_dim). Unknown fields are ignored; absent ones take
 * the official defaults.
 *
 * <ul>
 *   <li>c_type: 0 = SSM parameterisation (softplus Δ through a d→ssm_dim→d projection, A = −exp(log(1..k)),
 *       o = exp(Δ⊗A), e = B_t, s = C_t, i ← Δ⊙i); 1 = the e/o/s types below.</li>
 *   <li>e_type, s_type: 0 = learned k×d matrix, 1 = data-dependent Linear(d→k).</li>
 *   <li>o_type: 0 learned k×d (σ(o)^{1/τ}) or fixed ALiBi slopes; 1 data-dependent σ(W₁x)^{1/τ} (d) ⊗ σ(W₂x)^{1/τ} (k);
 *       2 data-dependent, d only; 3 data-dependent, k only; 4 data-independent k-vector; 5 data-independent d-vector;
 *       6–9 data-independent × data-dependent products; 10 all ones (no decay: vanilla linear attention).
 *       11 (complex rotation) and 12 (cumulative softmax) are not supported.</li>
 *   <li>t_type: activation on e and s: 0 none, 1 ReLU, 2 sigmoid, 3 1+ELU, 4 SiLU, 5 ELU, 6 ReLU², 7 x².</li>
 * </ul>
 *
 * @param modelType {@code model_type}, "lcsm"
 * @param vocabSize {@code vocab_size}: token ids
 * @param embedDim {@code embed_dim}: the model width d
 * @param numLayers {@code num_layers}
 * @param midDim {@code mid_dim}: the GLU width (default 8/3·d rounded to 8)
 * @param expandDim {@code expand_dim}: the state's expand dim k (default 8)
 * @param bias {@code bias}: whether the token mixer's projections have biases (default false)
 * @param cType {@code c_type}: 0 SSM parameterisation, 1 the e/o/s types (default 0)
 * @param eType {@code e_type}: how e (the expand) is made (default 0)
 * @param oType {@code o_type}: how o (the oscillation, the decay) is made, 0–10 (default 0)
 * @param oLearned {@code o_learned}: whether a data-independent o is learned rather than fixed (default true)
 * @param sType {@code s_type}: how s (the shrink) is made (default 0)
 * @param tType {@code t_type}: the activation on e and s, 0–7 (default 0)
 * @param ssmDim {@code ssm_dim}: the rank of the SSM's Δ projection (default 16)
 * @param tau {@code tau}: τ of σ(·)^{1/τ} (default 16)
 * @param useTau {@code use_tau}: whether o is raised to 1/τ (default true)
 * @param normEps {@code norm_eps}: the norms' ε (default 1e-6)
 * @param initStd {@code init_std}: the std of the initial weights (default 0.02)
 * @param tieWordEmbeddings {@code tie_word_embeddings} (default true)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record LcsmConfig(
        @JsonProperty("model_type") String modelType,
        @JsonProperty("vocab_size") int vocabSize,
        @JsonProperty("embed_dim") int embedDim,
        @JsonProperty("num_layers") int numLayers,
        @JsonProperty("mid_dim") Integer midDim,
        @JsonProperty("expand_dim") Integer expandDim,
        @JsonProperty("bias") Boolean bias,
        @JsonProperty("c_type") Integer cType,
        @JsonProperty("e_type") Integer eType,
        @JsonProperty("o_type") Integer oType,
        @JsonProperty("o_learned") Boolean oLearned,
        @JsonProperty("s_type") Integer sType,
        @JsonProperty("t_type") Integer tType,
        @JsonProperty("ssm_dim") Integer ssmDim,
        @JsonProperty("tau") Double tau,
        @JsonProperty("use_tau") Boolean useTau,
        @JsonProperty("norm_eps") Double normEps,
        @JsonProperty("init_std") Double initStd,
        @JsonProperty("tie_word_embeddings") Boolean tieWordEmbeddings) {

    static final Set<Integer> O_TYPES = Set.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);

    /** Gives absent fields the reference implementation's defaults. */
    public LcsmConfig {
        modelType = modelType == null ? "lcsm" : modelType;
        midDim = midDim == null ? (int) Math.round(embedDim * 8 / 3.0 / 8) * 8 : midDim;
        expandDim = expandDim == null ? 8 : expandDim;
        bias = bias == null ? false : bias;
        cType = cType == null ? 0 : cType;
        eType = eType == null ? 0 : eType;
        oType = oType == null ? 0 : oType;
        oLearned = oLearned == null ? true : oLearned;
        sType = sType == null ? 0 : sType;
        tType = tType == null ? 0 : tType;
        ssmDim = ssmDim == null ? 16 : ssmDim;
        tau = tau == null ? 16.0 : tau;
        useTau = useTau == null ? true : useTau;
        normEps = normEps == null ? 1e-6 : normEps;
        initStd = initStd == null ? 0.02 : initStd;
        tieWordEmbeddings = tieWordEmbeddings == null ? true : tieWordEmbeddings;
    }

    /** The settings the paper compares, by name. */
    public enum Preset {
        /** o = J (all ones), e = k_t, s = q_t, i = v_t: causal linear attention. */
        LINEAR_ATTENTION(1, 1, 10, false, 1, 4),
        /** o = λ_k J with fixed ALiBi-style λ_k per expand row: TNL-style data-independent decay. */
        TNL(1, 1, 4, false, 1, 4),
        /** c_type 0: Mamba-like selective SSM. */
        SSM(0, 0, 0, true, 0, 0),
        /** o_t = σ(W x_t)^{1/τ} per channel (broadcast over k): a linear RNN with a data-dependent forget gate. */
        LINEAR_RNN(1, 1, 2, true, 1, 4);

        final int cType;
        final int eType;
        final int oType;
        final boolean oLearned;
        final int sType;
        final int tType;

        Preset(int cType, int eType, int oType, boolean oLearned, int sType, int tType) {
            this.cType = cType;
            this.eType = eType;
            this.oType = oType;
            this.oLearned = oLearned;
            this.sType = sType;
            this.tType = tType;
        }
    }

    /**
     * A small model of one preset: vocabulary, width, layers, expand dim.
     *
     * @param vocab the vocabulary size
     * @param dim the width
     * @param layers the number of layers
     * @param expand the expand dim k
     * @param p the preset
     * @return the config
     */
    public static LcsmConfig small(int vocab, int dim, int layers, int expand, Preset p) {
        return new LcsmConfig(
                "lcsm",
                vocab,
                dim,
                layers,
                null,
                expand,
                false,
                p.cType,
                p.eType,
                p.oType,
                p.oLearned,
                p.sType,
                p.tType,
                16,
                16.0,
                true,
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
    public LcsmConfig withTiedEmbeddings(boolean tied) {
        return new LcsmConfig(
                modelType, vocabSize, embedDim, numLayers, midDim, expandDim, bias, cType, eType, oType, oLearned,
                sType, tType, ssmDim, tau, useTau, normEps, initStd, tied);
    }

    /**
     * Checks the configuration and lists every problem at once.
     *
     * @return this config
     * @throws IllegalArgumentException listing every problem
     */
    public LcsmConfig validate() {
        List<String> p = new ArrayList<>();
        if (!"lcsm".equals(modelType)) {
            p.add("model_type is '" + modelType + "', expected 'lcsm'");
        }
        if (vocabSize <= 0) {
            p.add("vocab_size must be > 0, got " + vocabSize);
        }
        if (embedDim <= 0 || numLayers <= 0 || midDim <= 0 || expandDim <= 0 || ssmDim <= 0) {
            p.add("embed_dim, num_layers, mid_dim, expand_dim and ssm_dim must be > 0 (got " + embedDim + ", "
                    + numLayers + ", " + midDim + ", " + expandDim + ", " + ssmDim + ")");
        }
        if (cType != 0 && cType != 1) {
            p.add("c_type must be 0 (ssm) or 1 (linear), got " + cType);
        }
        if (eType != 0 && eType != 1) {
            p.add("e_type must be 0 or 1, got " + eType);
        }
        if (sType != 0 && sType != 1) {
            p.add("s_type must be 0 or 1, got " + sType);
        }
        if (!O_TYPES.contains(oType)) {
            p.add("o_type " + oType
                    + " is not supported (0–10; 11 complex and 12 cumulative softmax are not implemented)");
        }
        if (tType < 0 || tType > 7) {
            p.add("t_type must be in 0..7, got " + tType);
        }
        if (!(tau > 0) || Double.isInfinite(tau)) {
            p.add("tau must be finite and > 0, got " + tau);
        }
        if (!(normEps > 0)) {
            p.add("norm_eps must be > 0, got " + normEps);
        }
        if (!(initStd > 0)) {
            p.add("init_std must be > 0, got " + initStd);
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid LCSM config: " + String.join("; ", p));
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
    public static LcsmConfig parse(String json) {
        return ConfigJson.parse(json, LcsmConfig.class, "LCSM").validate();
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
