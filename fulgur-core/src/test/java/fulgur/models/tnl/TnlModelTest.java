package fulgur.models.tnl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.List;
import org.junit.jupiter.api.Test;

class TnlModelTest {

    static Tensor randomIds(long seed, int b, int t, int vocab) {
        Rng r = new Rng(seed);
        int[] ids = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return Tensor.ofInts(ids, b, t);
    }

    @Test
    void parameterCountOf385mConfigIsAbout040B() {
        TnlConfig c = TnlConfig.tnl385m();
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(c, 1)) {
            long n = m.parameterCount();
            // 24 × (4·1024² qkvu + 1024² out + 3·1024·2816 GLU) + 64000·1024 tied embedding
            assertThat(n).isEqualTo(24L * (4 * 1024 * 1024 + 1024 * 1024 + 3 * 1024 * 2816) + 64000L * 1024);
            assertThat(n / 1e9).isBetween(0.39, 0.41);
            assertThat(m.namedParameters())
                    .containsKeys(
                            "model.embed_tokens.weight",
                            "model.layers.0.token_mixer.qkvu_proj.weight",
                            "model.layers.23.token_mixer.out_proj.weight",
                            "model.layers.5.channel_mixer.l3.weight");
            assertThat(m.namedParameters()).doesNotContainKey("lm_head.weight");
        }
    }

    @Test
    void configUsesTheOfficialFieldNamesAndRejectsBadValues() {
        TnlConfig c = TnlConfig.small(300, 48, 3, 4).withLrpe(List.of(1, 0, 0)).withTiedEmbeddings(false);
        String json = c.toJson();
        assertThat(json)
                .contains(
                        "\"decoder_embed_dim\"",
                        "\"decoder_layers\"",
                        "\"decoder_attention_heads\"",
                        "\"linear_use_lrpe_list\"",
                        "\"glu_dim\"");
        assertThat(TnlConfig.parse(json)).isEqualTo(c);
        assertThatThrownBy(
                        () -> TnlConfig.parse(
                                "{\"vocab_size\": 10, \"decoder_embed_dim\": 30, \"decoder_layers\": 2, \"decoder_attention_heads\": 4, \"hidden_dim\": 30, \"glu_dim\": 64}"))
                .hasMessageContaining("hidden_dim 30 is not divisible by decoder_attention_heads 4");
        assertThatThrownBy(() -> TnlConfig.parse("{not json")).hasMessageContaining("malformed");
    }

    @Test
    void decodingWithTheCacheReproducesTheParallelForward() {
        TnlConfig c = TnlConfig.small(50, 32, 2, 4).withLrpe(List.of(1, 0)).withTiedEmbeddings(false);
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(c, 3);
                var g = GradMode.noGrad()) {
            m.train(false);
            int t = 70; // more than one lightning block
            Tensor ids = randomIds(5, 2, t, 50);
            float[] full = m.forward(ids).toFloatArray();
            try (TnlCache cache = m.newCache()) {
                int prefill = 40;
                float[] got = new float[full.length];
                Tensor first = m.forward(ids.narrow(1, 0, prefill), cache);
                copyRows(first, got, 0, prefill, t);
                for (int i = prefill; i < t; i++) {
                    Tensor step = m.forward(ids.narrow(1, i, 1), cache);
                    copyRows(step, got, i, 1, t);
                }
                assertThat(cache.position()).isEqualTo(t);
                double[] expect = new double[full.length];
                for (int i = 0; i < full.length; i++) {
                    expect[i] = full[i];
                }
                assertThat(GradCheck.relErr(got, expect)).isLessThan(1e-5);
            }
        }
    }

    private static void copyRows(Tensor logits, float[] dst, int start, int len, int t) {
        int b = logits.size(0);
        int v = logits.size(2);
        float[] src = logits.toFloatArray();
        for (int i = 0; i < b; i++) {
            System.arraycopy(src, i * len * v, dst, (i * t + start) * v, len * v);
        }
    }

    @Test
    void cacheMemoryDoesNotGrowWithGeneratedLength() {
        TnlConfig c = TnlConfig.small(40, 32, 2, 4);
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(c, 4);
                var g = GradMode.noGrad();
                TnlCache cache = m.newCache()) {
            m.forward(randomIds(1, 1, 10, 40), cache);
            long after10 = cache.stateBytes();
            for (int i = 0; i < 200; i++) {
                try (Scope step = Scope.open()) {
                    m.forward(randomIds(i, 1, 1, 40), cache);
                }
            }
            assertThat(cache.stateBytes()).isEqualTo(after10).isEqualTo(2L * 4 * 8 * 8 * 4);
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesInF64() {
        TnlConfig c = TnlConfig.small(11, 8, 2, 2).withLrpe(List.of(1, 1)).withTiedEmbeddings(false);
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(c, 9)) {
            // Cast the model to f64 and check the loss gradient for a few parameters.
            m.namedParameters().forEach((n, p) -> p.replace(p.value().to(fulgur.tensor.DType.F64)));
            Tensor ids = randomIds(2, 2, 5, 11);
            Tensor targets = randomIds(3, 2, 5, 11).reshape(-1);
            var params = m.namedParameters();
            Tensor w = params.get("model.layers.0.token_mixer.qkvu_proj.weight").value();
            Tensor theta = params.get("model.layers.1.token_mixer.lrpe.theta").value();
            Tensor glu = params.get("model.layers.1.channel_mixer.l1.weight").value();
            GradCheck.check(x -> m.loss(ids, targets), 1e-6, 1e-5, w, theta, glu);
        }
    }

    /** convert --to reference writes what the official code's from_pretrained and AutoModel need; it reads back. */
    @Test
    void referenceConfigIsWhatTheOfficialCodeReads() throws Exception {
        TnlConfig c = TnlConfig.small(50, 16, 3, 2);
        assertThat(c.lrpeLayers())
                .as("an empty list breaks the official model: one flag per layer")
                .containsExactly(0, 0, 0);
        var n = fulgur.io.Json.mapper()
                .readTree(new TnlArchitecture()
                        .referenceConfig(c.withLrpe(java.util.List.of(1, 0, 1)).toJson(), fulgur.tensor.DType.F32));
        assertThat(n.get("architectures").get(0).asText()).isEqualTo("TransnormerForCausalLM");
        assertThat(n.get("auto_map").get("AutoModelForCausalLM").asText())
                .isEqualTo("modeling_transnormer.TransnormerForCausalLM");
        assertThat(n.get("auto_map").get("AutoConfig").asText())
                .isEqualTo("configuration_transnormer.TransnormerConfig");
        assertThat(n.get("torch_dtype").asText()).isEqualTo("float32");
        assertThat(n.get("linear_use_lrpe_list").toString()).isEqualTo("[1,0,1]");
        assertThat(n.get("pad_token_id").asInt()).isEqualTo(0);
        assertThat(n.get("bos_token_id").asInt()).isEqualTo(1);
        assertThat(n.get("eos_token_id").asInt()).isEqualTo(2);
        TnlConfig back = TnlConfig.parse(n.toString());
        assertThat(back.lrpeLayers()).containsExactly(1, 0, 1);
        assertThat(back.embedDim()).isEqualTo(16);
    }
}
