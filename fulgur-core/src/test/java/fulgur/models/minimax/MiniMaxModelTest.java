package fulgur.models.minimax;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import fulgur.autograd.GradMode;
import fulgur.data.Mqar;
import fulgur.models.Architectures;
import fulgur.models.HybridCache;
import fulgur.models.LmTestKit;
import fulgur.models.SequenceShard;
import fulgur.ops.Losses;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class MiniMaxModelTest {

    /** vocab 40, width 32, 4 heads of 8 (2 KV heads, RoPE on 4), layer 0 lightning, layer 1 softmax, 4 experts top-2 of 64. */
    static MiniMaxConfig tiny() {
        return MiniMaxConfig.small(40, 32, 2, 4);
    }

    static long count(long v, long d, long f, long h, long hd, long kv, long e, List<Integer> types, boolean tied) {
        long inner = h * hd;
        long n = v * d + d + (tied ? 0 : v * d);
        for (int t : types) {
            n += t == 0 ? 3 * d * inner + inner * d + d * inner + inner : d * inner + 2 * d * kv * hd + inner * d;
            n += d * e + e * 3 * d * f + 2 * d;
        }
        return n;
    }

    @Test
    void parameterCountFollowsTheFormula() {
        // MiniMax-Text-01: the paper's 456B total parameters
        MiniMaxConfig big = MiniMaxConfig.minimaxText01();
        assertThat(big.attnTypeList().stream().filter(t -> t == 1).count()).isEqualTo(10);
        assertThat(big.softmax(7)).isTrue();
        assertThat(big.softmax(6)).isFalse();
        long total = count(200064, 6144, 9216, 64, 128, 8, 32, big.attnTypeList(), false);
        assertThat(total / 1e9).isBetween(455.5, 456.5);
        MiniMaxConfig c = tiny();
        assertThat(c.attnTypeList()).containsExactly(0, 1);
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(c, 1)) {
            assertThat(m.parameterCount()).isEqualTo(count(40, 32, 64, 4, 8, 2, 4, c.attnTypeList(), false));
        }
    }

    @Test
    void configRoundTripsWithTransformersFieldNamesAndRejectsBadValues() {
        MiniMaxConfig c = tiny();
        String json = c.toJson();
        assertThat(json)
                .contains(
                        "\"attn_type_list\"",
                        "\"postnorm\"",
                        "\"layernorm_full_attention_alpha\"",
                        "\"layernorm_linear_attention_beta\"",
                        "\"layernorm_mlp_alpha\"",
                        "\"num_local_experts\"",
                        "\"num_experts_per_tok\"",
                        "\"router_aux_loss_coef\"",
                        "\"rotary_dim\"",
                        "\"block_size\"",
                        "\"model_type\" : \"minimax\"");
        assertThat(MiniMaxConfig.parse(json)).isEqualTo(c);
        assertThat(Architectures.forConfig(json).name()).isEqualTo("minimax");
        assertThat(MiniMaxConfig.parse(MiniMaxConfig.minimaxText01().toJson()))
                .isEqualTo(MiniMaxConfig.minimaxText01());
        // transformers' defaults (it writes only fields that differ from them): layer_types full, linear, full, ...,
        // post-norm, 8 KV heads, 8 experts top-2, no load-balancing loss in the training loss
        MiniMaxConfig d = MiniMaxConfig.parse(
                "{\"model_type\":\"minimax\",\"vocab_size\":10,\"hidden_size\":64,\"intermediate_size\":32,"
                        + "\"num_hidden_layers\":4,\"num_attention_heads\":8}");
        assertThat(d.attnTypeList()).containsExactly(1, 0, 1, 0);
        assertThat(d.postnorm()).isTrue();
        assertThat(d.outputRouterLogits()).isFalse();
        assertThat(d.numLocalExperts()).isEqualTo(8);
        assertThatThrownBy(() -> MiniMaxConfig.parse(
                        "{\"model_type\":\"minimax\",\"vocab_size\":10,\"hidden_size\":64,\"intermediate_size\":32,"
                                + "\"num_hidden_layers\":3,\"num_attention_heads\":8,\"num_key_value_heads\":3,\"attn_type_list\":[0,2],\"num_experts_per_tok\":9,"
                                + "\"rotary_dim\":5}"))
                .hasMessageContaining("num_attention_heads 8 is not a multiple of num_key_value_heads 3")
                .hasMessageContaining("attn_type_list has 2 entries for 3 layers")
                .hasMessageContaining("must be 0 (lightning) or 1 (softmax), got 2")
                .hasMessageContaining("num_experts_per_tok 9")
                .hasMessageContaining("rotary_dim 5");
    }

    /** Newer transformers write layer_types, *_factor residual weights and rope_parameters (and always post-norm). */
    @Test
    void readsTheNewerTransformersConfigFields() {
        MiniMaxConfig c = MiniMaxConfig.parse(
                "{\"model_type\":\"minimax\",\"vocab_size\":10,\"hidden_size\":64,\"intermediate_size\":32,"
                        + "\"num_hidden_layers\":2,\"num_attention_heads\":8,\"head_dim\":8,\"layer_types\":[\"linear_attention\",\"full_attention\"],"
                        + "\"full_attn_alpha_factor\":3.5,\"linear_attn_beta_factor\":0.5,\"mlp_alpha_factor\":2.0,"
                        + "\"rope_parameters\":{\"rope_type\":\"default\",\"rope_theta\":10000000.0,\"partial_rotary_factor\":0.5}}");
        assertThat(c.attnTypeList()).containsExactly(0, 1);
        assertThat(c.postnorm()).isTrue();
        assertThat(c.layernormFullAttentionAlpha()).isEqualTo(3.5);
        assertThat(c.layernormLinearAttentionBeta()).isEqualTo(0.5);
        assertThat(c.layernormMlpAlpha()).isEqualTo(2.0);
        assertThat(c.ropeTheta()).isEqualTo(1e7);
        assertThat(c.rotaryDim()).isEqualTo(4);
        // written back in the attn_type_list form
        assertThat(c.toJson())
                .contains("\"attn_type_list\"", "\"layernorm_full_attention_alpha\"")
                .doesNotContain("layer_types", "rope_parameters");
        assertThat(MiniMaxConfig.parse(c.toJson())).isEqualTo(c);
    }

    /** Per-layer decay as transformers' get_slope_rate; equal to the shared MiniMax schedule for a power-of-two head count. */
    @Test
    void decayFollowsMiniMaxSchedule() {
        try (Scope s = Scope.open();
                MiniMaxModel m =
                        new MiniMaxModel(MiniMaxConfig.small(40, 64, 3, 8).withAttnTypes(List.of(0, 0, 1)), 1)) {
            for (int l = 0; l < 2; l++) {
                assertThat(m.slopes(l)).containsExactly(LightningDecay.minimaxSlopes(8, l, 3), within(1e-15));
            }
            assertThatThrownBy(() -> m.slopes(2)).hasMessageContaining("softmax");
        }
        double[] six = MiniMaxLightningAttention.slopes(6, 1, 4);
        for (int h = 0; h < 6; h++) {
            assertThat(six[h]).isCloseTo(Math.pow(2, -8.0 * (h + 1) / 6) * (1 - 1 / (3 + 1e-5) + 1e-5), within(1e-15));
        }
    }

    /** transformers' MiniMax tensor names and shapes for the tiny config (layer 0 lightning, layer 1 softmax), written out. */
    static Map<String, int[]> referenceShapes() {
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put("model.embed_tokens.weight", new int[] {40, 32});
        m.put("model.layers.0.self_attn.qkv_proj.weight", new int[] {96, 32});
        m.put("model.layers.0.self_attn.out_proj.weight", new int[] {32, 32});
        m.put("model.layers.0.self_attn.output_gate.weight", new int[] {32, 32});
        m.put("model.layers.0.self_attn.norm.weight", new int[] {32});
        m.put("model.layers.1.self_attn.q_proj.weight", new int[] {32, 32});
        m.put("model.layers.1.self_attn.k_proj.weight", new int[] {16, 32});
        m.put("model.layers.1.self_attn.v_proj.weight", new int[] {16, 32});
        m.put("model.layers.1.self_attn.o_proj.weight", new int[] {32, 32});
        for (int l = 0; l < 2; l++) {
            String p = "model.layers." + l + ".";
            m.put(p + "input_layernorm.weight", new int[] {32});
            m.put(p + "post_attention_layernorm.weight", new int[] {32});
            m.put(p + "block_sparse_moe.gate.weight", new int[] {4, 32});
            for (int e = 0; e < 4; e++) {
                m.put(p + "block_sparse_moe.experts." + e + ".w1.weight", new int[] {64, 32});
                m.put(p + "block_sparse_moe.experts." + e + ".w2.weight", new int[] {32, 64});
                m.put(p + "block_sparse_moe.experts." + e + ".w3.weight", new int[] {64, 32});
            }
        }
        m.put("model.norm.weight", new int[] {32});
        m.put("lm_head.weight", new int[] {40, 32});
        return m;
    }

    @Test
    void loadsTensorsWithTheReferenceNames() {
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(tiny(), 2)) {
            Map<String, Tensor> ref = new LinkedHashMap<>();
            int i = 0;
            for (var e : referenceShapes().entrySet()) {
                ref.put(e.getKey(), Tensor.full(DType.F32, 0.001 * ++i, e.getValue()));
            }
            m.loadStateDict(ref, true);
            assertThat(m.stateDict()
                            .get("model.layers.1.self_attn.v_proj.weight")
                            .getFlat(0))
                    .isCloseTo(0.008, within(1e-6));
            Map<String, Tensor> wrong = new LinkedHashMap<>(ref);
            wrong.put("model.layers.0.self_attn.qkv_proj.weight", Tensor.zeros(32, 32));
            assertThatThrownBy(() -> m.loadStateDict(wrong, true))
                    .hasMessageContaining("mis-shaped: model.layers.0.self_attn.qkv_proj.weight");
            Map<String, Tensor> missing = new LinkedHashMap<>(ref);
            missing.remove("model.layers.1.block_sparse_moe.experts.3.w2.weight");
            assertThatThrownBy(() -> m.loadStateDict(missing, true))
                    .hasMessageContaining("missing: model.layers.1.block_sparse_moe.experts.3.w2.weight");
        }
    }

    /**
     * The lightning layer against transformers' formula written out in f64: qkv_proj's output per head is
     * [q_h, k_h, v_h]; SiLU on all three; o_t = Σ_{s≤t} λ^{t−s}(q_t·k_s)v_s; RMSNorm with gain over all heads;
     * σ(output_gate x) gate; out_proj.
     */
    @Test
    void lightningLayerMatchesTheReferenceFormula() {
        MiniMaxConfig c = MiniMaxConfig.small(10, 8, 2, 2).withAttnTypes(List.of(0, 1));
        int b = 1, t = 5, d = 8, h = 2, hd = 4;
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            MiniMaxLightningAttention a =
                    new MiniMaxLightningAttention(c, 0, new fulgur.models.NormalInit(new Rng(3), 0.3));
            a.to(DType.F64);
            var p = a.namedParameters();
            p.get("norm.weight").value().copyFrom(new Rng(4).normal(DType.F64, 1, 0.2, h * hd));
            Tensor x = new Rng(5).normal(DType.F64, 0, 1, b, t, d);
            double[] got = a.forward(x, null, 0, SequenceShard.WHOLE).toDoubleArray();
            double[] wqkv = p.get("qkv_proj.weight").value().toDoubleArray();
            double[] wg = p.get("output_gate.weight").value().toDoubleArray();
            double[] wo = p.get("out_proj.weight").value().toDoubleArray();
            double[] gain = p.get("norm.weight").value().toDoubleArray();
            double[] xs = x.toDoubleArray();
            double[] lambda = LightningDecay.lambdas(MiniMaxLightningAttention.slopes(h, 0, 2));
            double[][] qkv = new double[t][3 * h * hd];
            for (int i = 0; i < t; i++) {
                for (int r = 0; r < 3 * h * hd; r++) {
                    double z = 0;
                    for (int j = 0; j < d; j++) {
                        z += wqkv[r * d + j] * xs[i * d + j];
                    }
                    qkv[i][r] = z / (1 + Math.exp(-z));
                }
            }
            double[] want = new double[t * d];
            for (int i = 0; i < t; i++) {
                double[] o = new double[h * hd];
                for (int hh = 0; hh < h; hh++) {
                    int base = hh * 3 * hd; // [q_h, k_h, v_h]
                    for (int sIdx = 0; sIdx <= i; sIdx++) {
                        double dot = 0;
                        for (int c2 = 0; c2 < hd; c2++) {
                            dot += qkv[i][base + c2] * qkv[sIdx][base + hd + c2];
                        }
                        double w = Math.pow(lambda[hh], i - sIdx) * dot;
                        for (int c2 = 0; c2 < hd; c2++) {
                            o[hh * hd + c2] += w * qkv[sIdx][base + 2 * hd + c2];
                        }
                    }
                }
                double ms = 0;
                for (double v : o) {
                    ms += v * v;
                }
                double rs = 1 / Math.sqrt(ms / o.length + MiniMaxLightningAttention.NORM_EPS);
                double[] gated = new double[h * hd];
                for (int r = 0; r < h * hd; r++) {
                    double z = 0;
                    for (int j = 0; j < d; j++) {
                        z += wg[r * d + j] * xs[i * d + j];
                    }
                    gated[r] = o[r] * rs * gain[r] / (1 + Math.exp(-z));
                }
                for (int j = 0; j < d; j++) {
                    for (int r = 0; r < h * hd; r++) {
                        want[i * d + j] += wo[j * h * hd + r] * gated[r];
                    }
                }
            }
            assertThat(GradCheck.relErr(got, want)).isLessThan(1e-12);
        }
    }

    /**
     * The residual wiring of transformers' MiniMaxDecoderLayer: with postnorm the residual is the normalised input,
     * x ← α·LN(x) + β·f(LN(x)); without, x ← α·x + β·f(LN(x)); α, β of the layer's attention kind, then of the MLP.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void residualsFollowTheReferenceDecoderLayer(boolean postnorm) {
        String json = MiniMaxConfig.small(20, 16, 2, 2)
                .withPostnorm(postnorm)
                .toJson()
                .replaceAll(
                        "\"layernorm_linear_attention_alpha\" : [0-9.eE-]+",
                        "\"layernorm_linear_attention_alpha\" : 1.7")
                .replaceAll(
                        "\"layernorm_linear_attention_beta\" : [0-9.eE-]+", "\"layernorm_linear_attention_beta\" : 0.6")
                .replaceAll("\"layernorm_full_attention_alpha\" : [0-9.eE-]+", "\"layernorm_full_attention_alpha\" : 9")
                .replaceAll("\"layernorm_mlp_alpha\" : [0-9.eE-]+", "\"layernorm_mlp_alpha\" : 1.3")
                .replaceAll("\"layernorm_mlp_beta\" : [0-9.eE-]+", "\"layernorm_mlp_beta\" : 0.8");
        MiniMaxConfig c = MiniMaxConfig.parse(json);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            MiniMaxLayer layer = new MiniMaxLayer(c, 0, new fulgur.models.NormalInit(new Rng(1), 0.2));
            layer.to(DType.F64);
            var p = layer.namedParameters();
            p.get("input_layernorm.weight").value().copyFrom(new Rng(2).normal(DType.F64, 1, 0.3, 16));
            p.get("post_attention_layernorm.weight").value().copyFrom(new Rng(3).normal(DType.F64, 1, 0.3, 16));
            Tensor x = new Rng(4).normal(DType.F64, 0, 1, 2, 5, 16);
            double[] got = layer.forward(x, null, SequenceShard.WHOLE).toDoubleArray();
            Tensor n =
                    fulgur.ops.Norms.rmsNorm(x, p.get("input_layernorm.weight").value(), c.rmsNormEps());
            Tensor h = (postnorm ? n : x)
                    .mul(1.7)
                    .add(layer.lightning
                            .forward(n, null, 0, SequenceShard.WHOLE)
                            .mul(0.6));
            Tensor m = fulgur.ops.Norms.rmsNorm(
                    h, p.get("post_attention_layernorm.weight").value(), c.rmsNormEps());
            Tensor want = (postnorm ? m : h).mul(1.3).add(layer.moe.forward(m).mul(0.8));
            assertThat(GradCheck.relErr(got, want.toDoubleArray())).isLessThan(1e-14);
        }
    }

    @Test
    void decodingThroughTheMixedCacheReproducesTheParallelForward() {
        MiniMaxConfig c = MiniMaxConfig.small(40, 32, 3, 4).withAttnTypes(List.of(0, 1, 0));
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(c, 3)) {
            LmTestKit.assertDecodeMatchesForward(m, LmTestKit.randomIds(5, 2, 70, 40), 37, 1e-5);
            try (HybridCache cache = m.newCache();
                    var g = GradMode.noGrad()) {
                m.forward(LmTestKit.randomIds(1, 1, 5, 40), cache);
                assertThat(cache.linear(0).state().shape()).containsExactly(1, 4, 8, 8);
                assertThat(cache.kv(1).length()).isEqualTo(5);
                assertThatThrownBy(() -> cache.kv(0)).hasMessageContaining("linear state");
            }
        }
    }

    @Test
    void lossAddsTheRoutersAuxiliaryLoss() {
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(tiny(), 6)) {
            Tensor ids = LmTestKit.randomIds(1, 2, 9, 40);
            Tensor targets = LmTestKit.randomIds(2, 2, 9, 40).reshape(-1);
            double loss = m.loss(ids, targets).item();
            double aux = m.auxLoss().item();
            double ce =
                    Losses.crossEntropy(m.forward(ids).reshape(-1, 40), targets).item();
            // uniform routing gives coef·k = 0.02; any routing gives at least coef·k/… > 0
            assertThat(aux).isGreaterThan(0).isLessThan(0.01 * 4);
            assertThat(loss).isCloseTo(ce + aux, within(1e-5));
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesInF64() {
        MiniMaxConfig c = MiniMaxConfig.small(11, 8, 2, 2);
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(c, 9)) {
            m.to(DType.F64);
            Tensor ids = LmTestKit.randomIds(2, 2, 5, 11);
            Tensor targets = LmTestKit.randomIds(3, 2, 5, 11).reshape(-1);
            var params = m.namedParameters();
            // (qkv_proj's layout is checked in value by lightningLayerMatchesTheReferenceFormula; few elements keep
            // this quick)
            GradCheck.check(
                    x -> m.loss(ids, targets),
                    1e-6,
                    1e-5,
                    params.get("model.layers.0.self_attn.norm.weight").value(),
                    params.get("model.layers.1.self_attn.k_proj.weight").value(),
                    params.get("model.layers.0.block_sparse_moe.gate.weight").value(),
                    params.get("model.layers.1.post_attention_layernorm.weight").value());
        }
    }

    @Test
    void learnsMqar() {
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(MiniMaxConfig.small(32, 32, 2, 4), 4)) {
            double[] losses = LmTestKit.trainMqar(m, Mqar.Config.of(32, 32, 2), 150, 16, 5e-3);
            double[] fl = LmTestKit.firstLastMeans(losses, 10);
            assertThat(fl[1])
                    .as("MQAR loss first-10 %s, last-10 %s", fl[0], fl[1])
                    .isLessThan(0.8 * fl[0]);
        }
    }

    @Test
    void learnsTinyShakespeare() {
        try (Scope s = Scope.open();
                MiniMaxModel m = new MiniMaxModel(MiniMaxConfig.small(256, 32, 2, 4), 5)) {
            double[] losses = LmTestKit.trainShakespeare(m, 20_000, 40, 8, 32, 3e-3);
            double[] fl = LmTestKit.firstLastMeans(losses, 10);
            assertThat(fl[1])
                    .as("text loss first-10 %s, last-10 %s", fl[0], fl[1])
                    .isLessThan(0.8 * fl[0]);
        }
    }
}
