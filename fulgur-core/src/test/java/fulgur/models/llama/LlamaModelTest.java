package fulgur.models.llama;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import fulgur.data.Mqar;
import fulgur.models.Architectures;
import fulgur.models.LmTestKit;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class LlamaModelTest {

    static LlamaConfig tiny(String type) {
        return LlamaConfig.small(type, 40, 32, 2, 4);
    }

    /** Parameters of a Llama config, counted from transformers' module shapes. */
    static long count(long v, long d, long f, long layers, long h, long hkv, long hd, boolean tied) {
        long attn = d * h * hd + 2 * d * hkv * hd + h * hd * d;
        long mlp = 3 * d * f;
        return v * d + layers * (attn + mlp + 2 * d) + d + (tied ? 0 : v * d);
    }

    @Test
    void parameterCountFollowsTheFormula() {
        // The formula gives Llama-3.2-1B's published 1,235,814,400 (vocab 128256, width 2048, MLP 8192, 16 layers, 32/8
        // heads, tied).
        assertThat(count(128256, 2048, 8192, 16, 32, 8, 64, true)).isEqualTo(1_235_814_400L);
        for (String type : List.of("llama", "linear_llama")) {
            LlamaConfig c = tiny(type).withTiedEmbeddings(false);
            try (Scope s = Scope.open();
                    LlamaModel m = new LlamaModel(c, 1)) {
                assertThat(m.parameterCount()).isEqualTo(count(40, 32, c.intermediateSize(), 2, 4, 2, 8, false));
            }
            try (Scope s = Scope.open();
                    LlamaModel m = new LlamaModel(c.withTiedEmbeddings(true), 1)) {
                assertThat(m.parameterCount()).isEqualTo(count(40, 32, c.intermediateSize(), 2, 4, 2, 8, true));
            }
        }
    }

    @Test
    void configRoundTripsWithTransformersFieldNamesAndRejectsBadValues() {
        LlamaConfig c = tiny("llama");
        String json = c.toJson();
        assertThat(json)
                .contains(
                        "\"hidden_size\"",
                        "\"intermediate_size\"",
                        "\"num_hidden_layers\"",
                        "\"num_attention_heads\"",
                        "\"num_key_value_heads\"",
                        "\"rms_norm_eps\"",
                        "\"rope_theta\"",
                        "\"tie_word_embeddings\"",
                        "\"vocab_size\"",
                        "\"max_position_embeddings\"",
                        "\"head_dim\"",
                        "\"model_type\" : \"llama\"");
        assertThat(LlamaConfig.parse(json)).isEqualTo(c);
        LlamaConfig lin = tiny("linear_llama").withLinearAttentionType("basic");
        assertThat(LlamaConfig.parse(lin.toJson())).isEqualTo(lin);
        assertThat(Architectures.forConfig(json).name()).isEqualTo("llama");
        assertThat(Architectures.forConfig(lin.toJson()).name()).isEqualTo("linear-llama");
        // transformers' defaults fill absent fields: kv heads = heads, head_dim = hidden / heads
        LlamaConfig minimal = LlamaConfig.parse(
                "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":16,\"intermediate_size\":32,"
                        + "\"num_hidden_layers\":1,\"num_attention_heads\":2}");
        assertThat(minimal.numKeyValueHeads()).isEqualTo(2);
        assertThat(minimal.headDim()).isEqualTo(8);
        assertThat(minimal.ropeTheta()).isEqualTo(10000.0);
        assertThatThrownBy(
                        () -> LlamaConfig.parse(
                                "{\"model_type\":\"llama\",\"vocab_size\":0,\"hidden_size\":16,\"intermediate_size\":32,"
                                        + "\"num_hidden_layers\":1,\"num_attention_heads\":4,\"num_key_value_heads\":3,\"hidden_act\":\"gelu\",\"rope_scaling\":{\"rope_type\":\"yarn\"}}"))
                .hasMessageContaining("vocab_size must be > 0")
                .hasMessageContaining("num_attention_heads 4 is not a multiple of num_key_value_heads 3")
                .hasMessageContaining("hidden_act 'gelu'")
                .hasMessageContaining("rope_scaling {rope_type=yarn} is not supported");
        assertThatThrownBy(() -> LlamaConfig.parse(
                        lin.withLinearAttentionType("retention").toJson()))
                .hasMessageContaining("linear_attention_type 'retention'");
        assertThatThrownBy(() -> new LlamaArchitecture(false).build(lin.toJson(), 1))
                .hasMessageContaining("cannot build model_type 'linear_llama'");
        assertThatThrownBy(() -> LlamaConfig.parse("{oops")).hasMessageContaining("malformed");
    }

    /** Llama 3.1/3.2 configs carry rope_scaling of rope_type llama3: read, and kept on the round trip. */
    @Test
    void readsLlama3RopeScaling() {
        String json =
                "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":64,\"intermediate_size\":32,\"num_hidden_layers\":1,"
                        + "\"num_attention_heads\":2,\"rope_theta\":500000.0,\"rope_scaling\":{\"factor\":32.0,\"high_freq_factor\":4.0,"
                        + "\"low_freq_factor\":1.0,\"original_max_position_embeddings\":8192,\"rope_type\":\"llama3\"}}";
        LlamaConfig c = LlamaConfig.parse(json);
        assertThat(LlamaConfig.parse(c.toJson())).isEqualTo(c);
        fulgur.ops.attention.Rope r = c.rope();
        fulgur.ops.attention.Rope plain = new fulgur.ops.attention.Rope(32, 32, 500000.0);
        assertThat(r.invFreq(0)).isEqualTo(plain.invFreq(0)); // short wavelengths keep their frequency
        assertThat(r.invFreq(15))
                .isCloseTo(plain.invFreq(15) / 32, within(1e-18)); // long ones are divided by the factor
        assertThatThrownBy(() -> LlamaConfig.parse(json.replace("\"factor\":32.0,", "")))
                .hasMessageContaining("needs a number factor");
    }

    /** "lightning" takes the TNL/MiniMax per-layer decay schedule, "basic" no decay; softmax Llama has none. */
    @Test
    void linearAttentionTypeChoosesTheDecay() {
        try (Scope s = Scope.open();
                LlamaModel lightning = new LlamaModel(tiny("linear_llama"), 1);
                LlamaModel basic = new LlamaModel(tiny("linear_llama").withLinearAttentionType("basic"), 1);
                LlamaModel softmax = new LlamaModel(tiny("llama"), 1)) {
            for (int l = 0; l < 2; l++) {
                assertThat(lightning.slopes(l)).containsExactly(fulgur.ops.lightning.LightningDecay.tnlSlopes(4, l, 2));
                assertThat(basic.slopes(l)).containsOnly(0.0);
            }
            assertThatThrownBy(() -> softmax.slopes(0)).hasMessageContaining("softmax");
        }
    }

    /** The tensor names and shapes of transformers' LlamaForCausalLM for a 2-layer config, written out. */
    static Map<String, int[]> referenceShapes() {
        // vocab 40, hidden 32, MLP 88, 4 heads of 8, 2 key/value heads, untied
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new int[] {40, 32});
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "self_attn.q_proj.weight", new int[] {32, 32});
            m.put(p + "self_attn.k_proj.weight", new int[] {16, 32});
            m.put(p + "self_attn.v_proj.weight", new int[] {16, 32});
            m.put(p + "self_attn.o_proj.weight", new int[] {32, 32});
            m.put(p + "mlp.gate_proj.weight", new int[] {88, 32});
            m.put(p + "mlp.up_proj.weight", new int[] {88, 32});
            m.put(p + "mlp.down_proj.weight", new int[] {32, 88});
            m.put(p + "input_layernorm.weight", new int[] {32});
            m.put(p + "post_attention_layernorm.weight", new int[] {32});
        }
        m.put("model.norm.weight", new int[] {32});
        m.put("lm_head.weight", new int[] {40, 32});
        return m;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear_llama"})
    void loadsTensorsWithTheReferenceNames(String type) {
        LlamaConfig c = tiny(type).withTiedEmbeddings(false);
        assertThat(c.intermediateSize()).isEqualTo(88);
        try (Scope s = Scope.open();
                LlamaModel m = new LlamaModel(c, 2)) {
            Map<String, Tensor> ref = new LinkedHashMap<>();
            int i = 0;
            for (var e : referenceShapes().entrySet()) {
                ref.put(e.getKey(), Tensor.full(DType.F32, 0.01 * ++i, e.getValue()));
            }
            m.loadStateDict(ref, true);
            assertThat(m.stateDict().get("model.layers.1.mlp.down_proj.weight").getFlat(0))
                    .isCloseTo(0.01 * 17, org.assertj.core.api.Assertions.within(1e-6));
            Map<String, Tensor> wrong = new LinkedHashMap<>(ref);
            wrong.put("model.layers.0.self_attn.k_proj.weight", Tensor.zeros(32, 32));
            assertThatThrownBy(() -> m.loadStateDict(wrong, true))
                    .hasMessageContaining("mis-shaped: model.layers.0.self_attn.k_proj.weight");
            Map<String, Tensor> missing = new LinkedHashMap<>(ref);
            missing.remove("model.layers.1.post_attention_layernorm.weight");
            assertThatThrownBy(() -> m.loadStateDict(missing, true))
                    .hasMessageContaining("missing: model.layers.1.post_attention_layernorm.weight");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear_llama:lightning", "linear_llama:basic"})
    void decodingThroughTheCacheReproducesTheParallelForward(String variant) {
        String[] p = variant.split(":");
        LlamaConfig c = tiny(p[0]);
        if (p.length > 1) {
            c = c.withLinearAttentionType(p[1]);
        }
        try (Scope s = Scope.open();
                LlamaModel m = new LlamaModel(c, 3)) {
            // 70 tokens: more than one lightning block; the prefill is chunked, the rest recurrent
            LmTestKit.assertDecodeMatchesForward(m, LmTestKit.randomIds(5, 2, 70, 40), 37, 1e-5);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear_llama"})
    void gradientsMatchFiniteDifferencesInF64(String type) {
        LlamaConfig c = LlamaConfig.small(type, 11, 8, 2, 2).withTiedEmbeddings(false);
        try (Scope s = Scope.open();
                LlamaModel m = new LlamaModel(c, 9)) {
            m.to(DType.F64);
            Tensor ids = LmTestKit.randomIds(2, 2, 5, 11);
            Tensor targets = LmTestKit.randomIds(3, 2, 5, 11).reshape(-1);
            var params = m.namedParameters();
            GradCheck.check(
                    x -> m.loss(ids, targets),
                    1e-6,
                    1e-5,
                    params.get("model.layers.0.self_attn.k_proj.weight").value(),
                    params.get("model.layers.1.self_attn.o_proj.weight").value(),
                    params.get("model.layers.0.input_layernorm.weight").value(),
                    params.get("model.norm.weight").value());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear_llama"})
    void learnsMqar(String type) {
        try (Scope s = Scope.open();
                LlamaModel m = new LlamaModel(LlamaConfig.small(type, 32, 32, 2, 4), 4)) {
            double[] losses = LmTestKit.trainMqar(m, Mqar.Config.of(32, 32, 2), 150, 16, 5e-3);
            double[] fl = LmTestKit.firstLastMeans(losses, 10);
            assertThat(fl[1])
                    .as("MQAR loss first-10 %s, last-10 %s", fl[0], fl[1])
                    .isLessThan(0.8 * fl[0]);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear_llama"})
    void learnsTinyShakespeare(String type) {
        try (Scope s = Scope.open();
                LlamaModel m = new LlamaModel(LlamaConfig.small(type, 256, 32, 2, 4), 5)) {
            double[] losses = LmTestKit.trainShakespeare(m, 20_000, 40, 8, 32, 3e-3);
            double[] fl = LmTestKit.firstLastMeans(losses, 10);
            assertThat(fl[1])
                    .as("text loss first-10 %s, last-10 %s", fl[0], fl[1])
                    .isLessThan(0.8 * fl[0]);
        }
    }

    /** transformers 5 writes the rotary settings as rope_parameters; they are read as rope_theta and rope_scaling. */
    @Test
    void readsRopeParameters() {
        LlamaConfig c = LlamaConfig.parse(
                "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":16,\"intermediate_size\":32,"
                        + "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_parameters\":{\"rope_type\":\"llama3\",\"rope_theta\":500000.0,"
                        + "\"factor\":8.0,\"low_freq_factor\":1.0,\"high_freq_factor\":4.0,\"original_max_position_embeddings\":8192}}");
        assertThat(c.ropeTheta()).isEqualTo(500000.0);
        assertThat(c.ropeScaling())
                .containsEntry("rope_type", "llama3")
                .containsEntry("factor", 8.0)
                .doesNotContainKey("rope_theta");
        assertThat(c.toJson()).contains("\"rope_theta\"", "\"rope_scaling\"").doesNotContain("rope_parameters");
        LlamaConfig plain = LlamaConfig.parse(
                "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":16,\"intermediate_size\":32,"
                        + "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":5000.0}}");
        assertThat(plain.ropeTheta()).isEqualTo(5000.0);
        assertThat(plain.ropeScaling()).isNull();
    }
}
