package fulgur.models.minimax;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.models.Architecture;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The MiniMax-Text-01-style hybrid in transformers' MiniMax layout. Our parameter names are the ones transformers'
 * save_pretrained writes (per-expert {@code block_sparse_moe.experts.N.w1/w2/w3}); its checkpoints also hold each
 * lightning layer's decay buffers ({@link MiniMaxDecayBuffers}), which loading checks against the config and drops and
 * converting writes. Loading also accepts the fused in-memory names of transformers 5 ({@code mlp.gate.weight},
 * {@code mlp.experts.gate_up_proj}, {@code mlp.experts.down_proj}).
 */
public final class MiniMaxArchitecture implements Architecture {

    /** The service instance that {@link fulgur.models.Architectures} loads. */
    public MiniMaxArchitecture() {}

    private static final Pattern FUSED = Pattern.compile(
            "(model\\.layers\\.\\d+)\\.mlp\\.(gate\\.weight|experts\\.gate_up_proj|experts\\.down_proj)");

    @Override
    public String name() {
        return "minimax";
    }

    @Override
    public String title() {
        return "MiniMax hybrid";
    }

    @Override
    public List<String> modelTypes() {
        return List.of("minimax");
    }

    @Override
    public String smallConfig(int vocab, int dim, int layers, int heads) {
        if (dim <= 0 || layers <= 0 || heads <= 0 || dim % heads != 0 || (dim / heads) % 2 != 0) {
            throw new IllegalArgumentException(
                    "MiniMax needs positive layers and a width that is a positive multiple of the heads with an even head size (got width "
                            + dim + ", heads " + heads + ", layers " + layers + ")");
        }
        return MiniMaxConfig.small(vocab, dim, layers, heads).validate().toJson();
    }

    @Override
    public LanguageModel build(String configJson, long seed) {
        return new MiniMaxModel(MiniMaxConfig.parse(configJson), seed);
    }

    /** Our tensors plus each lightning layer's decay buffers, as transformers' state dict holds them. */
    @Override
    public Map<String, Tensor> toReference(Map<String, Tensor> ours, String configJson) {
        MiniMaxConfig c = MiniMaxConfig.parse(configJson);
        Map<String, Tensor> out = new LinkedHashMap<>(ours);
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            if (!c.softmax(l)) {
                MiniMaxDecayBuffers.of(c, l).forEach((name, t) -> out.put(name, t));
            }
        }
        return out;
    }

    /**
     * A checkpoint of transformers' MiniMax: decay buffers are checked against the ones this config gives (an error
     * names the first that differs) and dropped; fused expert tensors are split into our per-expert names.
     */
    @Override
    public Map<String, Tensor> fromReference(Map<String, Tensor> theirs, String configJson) {
        MiniMaxConfig c = MiniMaxConfig.parse(configJson);
        Map<String, Tensor> out = new LinkedHashMap<>();
        List<String> problems = new ArrayList<>();
        for (var e : theirs.entrySet()) {
            String name = e.getKey();
            Tensor t = e.getValue();
            String buffer = MiniMaxDecayBuffers.bufferOf(name);
            if (buffer != null) {
                String problem = MiniMaxDecayBuffers.check(c, name, t);
                if (problem != null) {
                    problems.add(problem);
                }
                continue;
            }
            Matcher m = FUSED.matcher(name);
            if (!m.matches()) {
                out.put(name, t);
                continue;
            }
            String moe = m.group(1) + ".block_sparse_moe.";
            switch (m.group(2)) {
                case "gate.weight" -> out.put(moe + "gate.weight", t);
                case "experts.gate_up_proj" -> {
                    int inter = t.size(1) / 2;
                    for (int x = 0; x < t.size(0); x++) {
                        Tensor ex = t.narrow(0, x, 1).reshape(t.size(1), t.size(2));
                        out.put(
                                moe + "experts." + x + ".w1.weight",
                                ex.narrow(0, 0, inter).contiguous());
                        out.put(
                                moe + "experts." + x + ".w3.weight",
                                ex.narrow(0, inter, inter).contiguous());
                    }
                }
                default -> {
                    for (int x = 0; x < t.size(0); x++) {
                        out.put(
                                moe + "experts." + x + ".w2.weight",
                                t.narrow(0, x, 1).reshape(t.size(1), t.size(2)).contiguous());
                    }
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(
                    "MiniMax checkpoint decay buffers do not match its config.json: " + String.join("; ", problems));
        }
        return out;
    }

    /**
     * transformers' MiniMaxConfig fields (layer_types, the *_factor residual weights, rope_parameters, architectures,
     * ...), which MiniMaxForCausalLM.from_pretrained reads. Its MiniMax is post-norm only and rotates whole heads, so a
     * pre-norm model or one with partial RoPE cannot be written in its layout (an error says which).
     */
    @Override
    public String referenceConfig(String configJson, DType dtype) {
        MiniMaxConfig c = MiniMaxConfig.parse(configJson);
        List<String> problems = new ArrayList<>();
        if (!c.postnorm()) {
            problems.add("postnorm is false, but transformers' MiniMaxDecoderLayer is post-norm only");
        }
        if (!c.rotaryDim().equals(c.headDim())) {
            problems.add("rotary_dim " + c.rotaryDim() + " is not head_dim " + c.headDim()
                    + ", but transformers' MiniMax applies RoPE to whole heads");
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(
                    "this MiniMax model cannot be written in transformers' layout: " + String.join("; ", problems));
        }
        ObjectNode n = Json.mapper().createObjectNode();
        n.putArray("architectures").add("MiniMaxForCausalLM");
        n.put("model_type", "minimax");
        n.put("vocab_size", c.vocabSize());
        n.put("hidden_size", c.hiddenSize());
        n.put("intermediate_size", c.intermediateSize());
        n.put("num_hidden_layers", c.numHiddenLayers());
        n.put("num_attention_heads", c.numAttentionHeads());
        n.put("num_key_value_heads", c.numKeyValueHeads());
        n.put("head_dim", c.headDim());
        n.put("hidden_act", c.hiddenAct());
        n.put("max_position_embeddings", c.maxPositionEmbeddings());
        n.put("initializer_range", c.initializerRange());
        n.put("rms_norm_eps", c.rmsNormEps());
        n.put("rope_theta", c.ropeTheta());
        ObjectNode rope = n.putObject("rope_parameters");
        rope.put("rope_type", "default");
        rope.put("rope_theta", c.ropeTheta());
        n.put("tie_word_embeddings", c.tieWordEmbeddings());
        n.put("num_experts_per_tok", c.numExpertsPerTok());
        n.put("num_local_experts", c.numLocalExperts());
        n.put("output_router_logits", c.outputRouterLogits());
        n.put("router_aux_loss_coef", c.routerAuxLossCoef());
        n.put("router_jitter_noise", c.routerJitterNoise());
        ArrayNode types = n.putArray("layer_types");
        for (int l = 0; l < c.numHiddenLayers(); l++) {
            types.add(c.softmax(l) ? "full_attention" : "linear_attention");
        }
        n.put("block_size", c.blockSize());
        n.put("full_attn_alpha_factor", c.layernormFullAttentionAlpha());
        n.put("full_attn_beta_factor", c.layernormFullAttentionBeta());
        n.put("linear_attn_alpha_factor", c.layernormLinearAttentionAlpha());
        n.put("linear_attn_beta_factor", c.layernormLinearAttentionBeta());
        n.put("mlp_alpha_factor", c.layernormMlpAlpha());
        n.put("mlp_beta_factor", c.layernormMlpBeta());
        putId(n, "pad_token_id", c.padTokenId());
        putId(n, "bos_token_id", c.bosTokenId());
        putId(n, "eos_token_id", c.eosTokenId());
        n.put("torch_dtype", ReferenceCheckpoint.torchDtype(dtype));
        n.put("use_cache", true);
        try {
            return Json.mapper().writerWithDefaultPrettyPrinter().writeValueAsString(n);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the MiniMax reference config", e);
        }
    }

    private static void putId(ObjectNode n, String field, Integer id) {
        if (id != null) {
            n.put(field, id);
        }
    }
}
