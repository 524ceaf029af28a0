package fulgur.models.minimax;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.autograd.GradMode;
import fulgur.io.Json;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.LanguageModel;
import fulgur.models.LmTestKit;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MiniMax checkpoints in and out of transformers' layout: its save_pretrained writes each lightning layer's decay
 * buffers (checked against the config, then dropped), transformers 5 keeps the experts fused in memory, and
 * {@code convert --to reference} writes transformers' own config fields and the buffers, so that
 * MiniMaxForCausalLM.from_pretrained finds every tensor it expects.
 */
class MiniMaxReferenceLayoutTest {

    static MiniMaxConfig config() {
        return MiniMaxConfig.small(30, 16, 3, 2).withAttnTypes(List.of(1, 0, 0));
    }

    @Test
    void decayBuffersAreTransformersDecayFactors() {
        MiniMaxConfig c = config();
        Map<String, Tensor> b;
        try (Scope s = Scope.open()) {
            b = MiniMaxDecayBuffers.of(c, 2);
            double[] slope = MiniMaxLightningAttention.slopes(2, 2, 3);
            int block = c.blockSize();
            assertThat(b.get("model.layers.2.self_attn.slope_rate").shape()).containsExactly(2, 1, 1);
            assertThat(b.get("model.layers.2.self_attn.query_decay").shape()).containsExactly(2, block, 1);
            assertThat(b.get("model.layers.2.self_attn.diagonal_decay").shape()).containsExactly(1, 2, block, block);
            double[] q = b.get("model.layers.2.self_attn.query_decay").toDoubleArray();
            double[] k = b.get("model.layers.2.self_attn.key_decay").toDoubleArray();
            double[] d = b.get("model.layers.2.self_attn.diagonal_decay").toDoubleArray();
            // head 1, position 3: q decays from the block start (i + 1), k to the block end (block − i − 1)
            assertThat(q[block + 3]).isCloseTo(Math.exp(-slope[1] * 4), org.assertj.core.api.Assertions.within(1e-7));
            assertThat(k[block + 3])
                    .isCloseTo(Math.exp(-slope[1] * (block - 4)), org.assertj.core.api.Assertions.within(1e-7));
            assertThat(d[(block + 5) * block + 2])
                    .isCloseTo(Math.exp(-slope[1] * 3), org.assertj.core.api.Assertions.within(1e-7));
            assertThat(d[(block + 2) * block + 5]).isZero();
        }
    }

    /** A checkpoint as transformers saves it (with buffers) and as it holds the experts in memory (fused) loads. */
    @Test
    void loadsCheckpointsWithDecayBuffersAndFusedExperts(@TempDir Path tmp) throws Exception {
        MiniMaxConfig c = config();
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(c, 3);
                var off = GradMode.noGrad()) {
            m.train(false);
            Tensor ids = LmTestKit.randomIds(4, 2, 9, 30);
            double[] want = m.forward(ids).toDoubleArray();
            Map<String, Tensor> theirs = new MiniMaxArchitecture().toReference(m.stateDict(), c.toJson());
            assertThat(theirs)
                    .containsKeys("model.layers.1.self_attn.slope_rate", "model.layers.2.self_attn.diagonal_decay")
                    .doesNotContainKey("model.layers.0.self_attn.slope_rate");
            // same weights; logits to f32 rounding (the MoE's scatter-add order is not fixed)
            assertThat(GradCheck.relErr(loadAndRun(tmp.resolve("buffers"), c, theirs, ids), want))
                    .isLessThan(1e-6);

            // transformers 5's fused experts: gate_up_proj [E, 2I, H] = [w1; w3] per expert, down_proj [E, H, I]
            Map<String, Tensor> fused = new LinkedHashMap<>();
            int experts = c.numLocalExperts(), inter = c.intermediateSize(), h = c.hiddenSize();
            theirs.forEach((k, v) -> {
                if (!k.contains(".block_sparse_moe.")) {
                    fused.put(k, v);
                }
            });
            for (int l = 0; l < c.numHiddenLayers(); l++) {
                String p = "model.layers." + l + ".block_sparse_moe.";
                fused.put("model.layers." + l + ".mlp.gate.weight", theirs.get(p + "gate.weight"));
                float[] gu = new float[experts * 2 * inter * h];
                float[] down = new float[experts * h * inter];
                for (int e = 0; e < experts; e++) {
                    float[] w1 = floats(theirs.get(p + "experts." + e + ".w1.weight"));
                    float[] w3 = floats(theirs.get(p + "experts." + e + ".w3.weight"));
                    System.arraycopy(w1, 0, gu, e * 2 * inter * h, inter * h);
                    System.arraycopy(w3, 0, gu, e * 2 * inter * h + inter * h, inter * h);
                    System.arraycopy(
                            floats(theirs.get(p + "experts." + e + ".w2.weight")), 0, down, e * h * inter, h * inter);
                }
                fused.put("model.layers." + l + ".mlp.experts.gate_up_proj", Tensor.of(gu, experts, 2 * inter, h));
                fused.put("model.layers." + l + ".mlp.experts.down_proj", Tensor.of(down, experts, h, inter));
            }
            assertThat(GradCheck.relErr(loadAndRun(tmp.resolve("fused"), c, fused, ids), want))
                    .isLessThan(1e-6);
        }
    }

    @Test
    void decayBuffersThatDoNotMatchTheConfigAreAClearError(@TempDir Path tmp) throws Exception {
        MiniMaxConfig c = config();
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(c, 3)) {
            Map<String, Tensor> theirs = new MiniMaxArchitecture().toReference(m.stateDict(), c.toJson());
            // a checkpoint of 4 layers read with a 3-layer config: layer 1's decay differs
            MiniMaxConfig four = MiniMaxConfig.small(30, 16, 4, 2).withAttnTypes(List.of(1, 0, 0, 0));
            theirs.putAll(MiniMaxDecayBuffers.of(four, 1));
            Path dir = tmp.resolve("bad");
            Files.createDirectories(dir);
            TensorIo.save(dir.resolve("model.safetensors"), theirs, Map.of("format", "pt"));
            Files.writeString(dir.resolve("config.json"), c.toJson());
            assertThatThrownBy(() -> ReferenceCheckpoint.load(dir))
                    .hasMessageContaining("decay buffers do not match")
                    .hasMessageContaining(
                            "model.layers.1.self_attn.slope_rate differs from the decay of num_attention_heads 2, num_hidden_layers 3");
        }
    }

    @Test
    void referenceConfigHasTransformersFieldsAndReadsBack() throws Exception {
        MiniMaxConfig c = config();
        String ref = new MiniMaxArchitecture().referenceConfig(c.toJson(), DType.BF16);
        JsonNode n = Json.mapper().readTree(ref);
        assertThat(n.get("architectures").get(0).asText()).isEqualTo("MiniMaxForCausalLM");
        assertThat(n.get("layer_types").toString())
                .isEqualTo("[\"full_attention\",\"linear_attention\",\"linear_attention\"]");
        assertThat(n.get("full_attn_alpha_factor").asDouble()).isEqualTo(c.layernormFullAttentionAlpha());
        assertThat(n.get("mlp_beta_factor").asDouble()).isEqualTo(c.layernormMlpBeta());
        assertThat(n.get("torch_dtype").asText()).isEqualTo("bfloat16");
        assertThat(n.get("rope_parameters").get("rope_theta").asDouble()).isEqualTo(c.ropeTheta());
        assertThat(n.get("output_router_logits").asBoolean()).isTrue();
        assertThat(n.has("attn_type_list") || n.has("postnorm") || n.has("rotary_dim"))
                .as("fields transformers' MiniMaxConfig does not have")
                .isFalse();
        assertThat(MiniMaxConfig.parse(ref)).isEqualTo(c);
        assertThatThrownBy(() -> new MiniMaxArchitecture()
                        .referenceConfig(c.withPostnorm(false).toJson(), DType.F32))
                .hasMessageContaining("post-norm only");
        assertThatThrownBy(() -> new MiniMaxArchitecture()
                        .referenceConfig(c.withRotaryDim(4).toJson(), DType.F32))
                .hasMessageContaining("rotary_dim 4 is not head_dim 8");
    }

    /** transformers adds the load-balancing loss only with output_router_logits; so does the training loss here. */
    @Test
    void loadBalancingLossFollowsOutputRouterLogits() throws Exception {
        MiniMaxConfig on = config();
        var json =
                (com.fasterxml.jackson.databind.node.ObjectNode) Json.mapper().readTree(on.toJson());
        json.put("output_router_logits", false);
        MiniMaxConfig off = MiniMaxConfig.parse(json.toString());
        Tensor ids = LmTestKit.randomIds(5, 2, 9, 30);
        int[] targets = new int[18];
        for (int i = 0; i < targets.length; i++) {
            targets[i] = (i * 7) % 30;
        }
        try (Scope s = Scope.open();
                MiniMaxModel a = new MiniMaxModel(on, 3);
                MiniMaxModel b = new MiniMaxModel(off, 3);
                var g = GradMode.noGrad()) {
            double withAux = a.loss(ids, Tensor.ofInts(targets, 18)).item();
            double without = b.loss(ids, Tensor.ofInts(targets, 18)).item();
            assertThat(withAux - without).isCloseTo(a.auxLoss().item(), org.assertj.core.api.Assertions.within(1e-6));
            assertThat(a.auxLoss().item()).isGreaterThan(0);
        }
    }

    private static double[] loadAndRun(Path dir, MiniMaxConfig c, Map<String, Tensor> tensors, Tensor ids)
            throws Exception {
        Files.createDirectories(dir);
        TensorIo.save(dir.resolve("model.safetensors"), tensors, Map.of("format", "pt"));
        Files.writeString(dir.resolve("config.json"), new MiniMaxArchitecture().referenceConfig(c.toJson(), DType.F32));
        try (LanguageModel back = ReferenceCheckpoint.load(dir)) {
            back.module().train(false);
            return back.forward(ids).toDoubleArray();
        }
    }

    private static float[] floats(Tensor t) {
        double[] d = t.toDoubleArray();
        float[] f = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            f[i] = (float) d[i];
        }
        return f;
    }
}
