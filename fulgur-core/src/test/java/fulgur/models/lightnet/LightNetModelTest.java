package fulgur.models.lightnet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class LightNetModelTest {

    /** A tiny fla-style config.json: 2 heads of key dim 2 (expand_ratio) and value dim 4. */
    static final String TINY = """
            {"model_type": "lightnet", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_heads": 2,
             "expand_ratio": 2, "gate_low_rank_dim": 3, "intermediate_size": 12, "some_future_field": 1}
            """;

    static Tensor randomIds(long seed, int b, int t, int vocab) {
        Rng r = new Rng(seed);
        int[] ids = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return Tensor.ofInts(ids, b, t);
    }

    @Test
    void configUsesFlaFieldNamesAndDefaultsAndListsEveryProblem() {
        LightNetConfig fla = LightNetConfig.parse("{\"model_type\": \"lightnet\"}");
        // fla's defaults: hidden 2048, expand_ratio 128 → 16 heads, gate rank 128, MLP 2/3·4·2048 → 5632 (256-aligned)
        assertThat(fla.heads()).isEqualTo(16);
        assertThat(fla.keyHeadDim()).isEqualTo(128);
        assertThat(fla.mlpDim()).isEqualTo(5632);
        assertThat(fla.normEps()).isEqualTo(1e-6);
        assertThat(fla.tieWordEmbeddings()).isFalse();
        LightNetConfig c = LightNetConfig.small(300, 48, 3, 4).withTiedEmbeddings(true);
        String json = c.toJson();
        assertThat(json)
                .contains(
                        "\"hidden_size\"",
                        "\"num_hidden_layers\"",
                        "\"num_heads\"",
                        "\"expand_ratio\"",
                        "\"gate_low_rank_dim\"",
                        "\"hidden_ratio\"");
        assertThat(LightNetConfig.parse(json)).isEqualTo(c);
        assertThat(Architectures.forConfig(json).name()).isEqualTo("lightnet");
        assertThatThrownBy(
                        () -> LightNetConfig.parse(
                                "{\"model_type\": \"lightnet\", \"hidden_size\": 30, \"num_heads\": 4, \"use_short_conv\": true, \"vocab_size\": 0}"))
                .hasMessageContaining("hidden_size 30 is not divisible by num_heads 4")
                .hasMessageContaining("use_short_conv")
                .hasMessageContaining("vocab_size must be > 0");
        assertThatThrownBy(() -> LightNetConfig.parse("{not json")).hasMessageContaining("malformed");
    }

    @Test
    void parameterCountFollowsTheLayout() {
        LightNetConfig c = LightNetConfig.parse(
                "{\"model_type\": \"lightnet\", \"vocab_size\": 100, \"hidden_size\": 64, \"num_hidden_layers\": 3,"
                        + " \"expand_ratio\": 16, \"gate_low_rank_dim\": 8}");
        try (Scope s = Scope.open();
                LightNetModel m = new LightNetModel(c, 1)) {
            long d = 64, v = 100, keyDim = 4 * 16, r = 8, mlp = 256; // 2/3·4·64 = 170 → 256
            long perLayer = 2 * d + 2 * keyDim * d + d * d + 2 * r * d + d + d * d + 3 * d * mlp;
            assertThat(m.parameterCount()).isEqualTo(v * d + 3 * perLayer + d + v * d);
        }
    }

    @Test
    void loadsACheckpointWithFlaHubTensorNames() {
        Map<String, int[]> names = new LinkedHashMap<>();
        names.put("model.embeddings.weight", new int[] {10, 8});
        names.put("model.layers.0.attn_norm.weight", new int[] {8});
        names.put("model.layers.0.attn.q_proj.weight", new int[] {4, 8});
        names.put("model.layers.0.attn.k_proj.weight", new int[] {4, 8});
        names.put("model.layers.0.attn.v_proj.weight", new int[] {8, 8});
        names.put("model.layers.0.attn.g_proj.0.weight", new int[] {3, 8});
        names.put("model.layers.0.attn.g_proj.1.weight", new int[] {8, 3});
        names.put("model.layers.0.attn.g_norm.weight", new int[] {8});
        names.put("model.layers.0.attn.o_proj.weight", new int[] {8, 8});
        names.put("model.layers.0.mlp_norm.weight", new int[] {8});
        names.put("model.layers.0.mlp.gate_proj.weight", new int[] {12, 8});
        names.put("model.layers.0.mlp.up_proj.weight", new int[] {12, 8});
        names.put("model.layers.0.mlp.down_proj.weight", new int[] {8, 12});
        names.put("model.norm.weight", new int[] {8});
        names.put("lm_head.weight", new int[] {10, 8});
        try (Scope s = Scope.open();
                LanguageModel m = Architectures.forConfig(TINY).build(TINY, 1)) {
            Rng r = new Rng(3);
            Map<String, Tensor> ckpt = new LinkedHashMap<>();
            names.forEach((n, shape) -> ckpt.put(n, r.normal(0, 1, shape)));
            m.module().loadStateDict(ckpt, true);
            assertThat(m.module()
                            .stateDict()
                            .get("model.layers.0.attn.g_proj.1.weight")
                            .toFloatArray())
                    .containsExactly(
                            ckpt.get("model.layers.0.attn.g_proj.1.weight").toFloatArray());
            Map<String, Tensor> wrong = new LinkedHashMap<>(ckpt);
            wrong.put("model.layers.0.attn.k_proj.weight", r.normal(0, 1, 8, 8));
            assertThatThrownBy(() -> m.module().loadStateDict(wrong, true))
                    .hasMessageContaining("model.layers.0.attn.k_proj.weight");
            Map<String, Tensor> missing = new LinkedHashMap<>(ckpt);
            missing.remove("model.layers.0.attn.g_norm.weight");
            assertThatThrownBy(() -> m.module().loadStateDict(missing, true))
                    .hasMessageContaining("model.layers.0.attn.g_norm.weight");
        }
    }

    @Test
    void decodingWithTheCacheReproducesTheParallelForward() {
        LightNetConfig c = LightNetConfig.small(50, 32, 2, 4);
        try (Scope s = Scope.open();
                LightNetModel m = new LightNetModel(c, 3);
                var g = GradMode.noGrad()) {
            int t = 75; // prefill spans more than two chunks, then token by token
            Tensor ids = randomIds(5, 2, t, 50);
            float[] full = m.forward(ids).toFloatArray();
            try (LightNetCache cache = m.newCache()) {
                int prefill = 40;
                float[] got = new float[full.length];
                copyRows(m.forward(ids.narrow(1, 0, prefill), cache), got, 0, prefill, t);
                for (int i = prefill; i < t; i++) {
                    copyRows(m.forward(ids.narrow(1, i, 1), (fulgur.models.DecodeCache) cache), got, i, 1, t);
                }
                assertThat(cache.position()).isEqualTo(t);
                // state: per layer S [B, H, dk, dv] and z [B, H, dk] in f32, independent of the length
                assertThat(cache.stateBytes()).isEqualTo(2L * (2 * 4 * 8 * 8 + 2 * 4 * 8) * 4);
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
    void gradientsMatchFiniteDifferencesInF64() {
        try (Scope s = Scope.open();
                LightNetModel m = new LightNetModel(LightNetConfig.parse(TINY), 9)) {
            m.namedParameters().forEach((n, p) -> p.replace(p.value().to(DType.F64)));
            Tensor ids = randomIds(2, 2, 5, 10);
            Tensor targets = randomIds(3, 2, 5, 10);
            var p = m.namedParameters();
            GradCheck.check(
                    x -> m.loss(ids, targets),
                    1e-6,
                    1e-5,
                    p.get("model.layers.0.attn.k_proj.weight").value(),
                    p.get("model.layers.0.attn.g_proj.0.weight").value(),
                    p.get("model.layers.0.attn.g_norm.weight").value());
        }
    }

    /** Trains with AdamW; returns the per-step losses. */
    static List<Double> train(LightNetModel m, int steps, double lr, java.util.function.IntFunction<Batch> data) {
        AdamW opt = new AdamW(ParamGroup.all(m, 0.0), lr);
        List<Double> losses = new ArrayList<>();
        for (int step = 0; step < steps; step++) {
            try (Scope sc = Scope.open()) {
                Batch b = data.apply(step);
                Tensor loss = m.loss(
                        Tensor.ofInts(b.inputs(), b.batch(), b.seqLen()),
                        Tensor.ofInts(b.targets(), b.batch(), b.seqLen()));
                opt.zeroGrad();
                loss.backward();
                GradClip.clipGlobalNorm(m.parameters(), 1.0);
                opt.step();
                losses.add(loss.item());
            }
        }
        return losses;
    }

    static double mean(List<Double> xs, int from, int to) {
        return xs.subList(from, to).stream()
                .mapToDouble(Double::doubleValue)
                .average()
                .orElseThrow();
    }

    @Test
    void learnsMqar() {
        Mqar task = new Mqar(Mqar.Config.of(32, 24, 3));
        try (LightNetModel m = new LightNetModel(LightNetConfig.small(32, 32, 2, 2), 1)) {
            List<Double> l = train(m, 120, 3e-3, step -> task.batch(5, step, 16));
            assertThat(mean(l, l.size() - 10, l.size())).isLessThan(0.8 * mean(l, 0, 10));
        }
    }

    @Test
    void learnsTinyShakespeare() throws IOException {
        Path file = fulgur.models.LmTestKit.findShakespeare();
        byte[] text = Files.readAllBytes(file);
        int n = Math.min(text.length, 20_000);
        int b = 8, t = 32;
        Rng rng = new Rng(7);
        try (LightNetModel m = new LightNetModel(LightNetConfig.small(256, 32, 2, 2), 2)) {
            List<Double> l = train(m, 100, 3e-3, step -> {
                int[] in = new int[b * t];
                int[] tg = new int[b * t];
                for (int i = 0; i < b; i++) {
                    int start = rng.nextInt(n - t - 1);
                    for (int j = 0; j < t; j++) {
                        in[i * t + j] = text[start + j] & 0xFF;
                        tg[i * t + j] = text[start + j + 1] & 0xFF;
                    }
                }
                return new Batch(b, t, in, tg);
            });
            assertThat(mean(l, l.size() - 10, l.size())).isLessThan(0.8 * mean(l, 0, 10));
        }
    }
}
