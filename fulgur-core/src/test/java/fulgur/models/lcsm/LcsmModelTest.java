package fulgur.models.lcsm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.models.Architectures;
import fulgur.models.lcsm.LcsmConfig.Preset;
import fulgur.ops.lcsm.Lcsm;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** LCSM: config, parameter count, the named instances' closed forms, decoding, names, training. */
class LcsmModelTest extends ScopedTest {

    static Tensor ids(long seed, int b, int t, int vocab) {
        long[] v = Ref.ints(seed, b * t, vocab);
        return Tensor.ofLongs(v, b, t);
    }

    static LcsmConfig with(
            LcsmConfig c,
            int cType,
            int eType,
            int oType,
            boolean oLearned,
            int sType,
            int tType,
            boolean useTau,
            boolean bias) {
        return new LcsmConfig(
                c.modelType(),
                c.vocabSize(),
                c.embedDim(),
                c.numLayers(),
                c.midDim(),
                c.expandDim(),
                bias,
                cType,
                eType,
                oType,
                oLearned,
                sType,
                tType,
                c.ssmDim(),
                c.tau(),
                useTau,
                c.normEps(),
                c.initStd(),
                c.tieWordEmbeddings());
    }

    @Test
    void configUsesTheOfficialFieldNamesRoundTripsAndListsEveryProblem() {
        LcsmConfig c = LcsmConfig.small(300, 48, 3, 4, Preset.LINEAR_RNN).withTiedEmbeddings(false);
        String json = c.toJson();
        assertThat(json)
                .contains(
                        "\"embed_dim\"",
                        "\"expand_dim\"",
                        "\"c_type\"",
                        "\"e_type\"",
                        "\"o_type\"",
                        "\"o_learned\"",
                        "\"s_type\"",
                        "\"t_type\"",
                        "\"ssm_dim\"",
                        "\"tau\"",
                        "\"use_tau\"",
                        "\"model_type\" : \"lcsm\"");
        assertThat(LcsmConfig.parse(json)).isEqualTo(c);
        LcsmConfig defaults = LcsmConfig.parse(
                "{\"model_type\": \"lcsm\", \"vocab_size\": 10, \"embed_dim\": 24, \"num_layers\": 1, \"whatever\": 3}");
        assertThat(defaults.cType()).isZero();
        assertThat(defaults.expandDim()).isEqualTo(8);
        assertThat(defaults.tau()).isEqualTo(16.0);
        assertThat(defaults.midDim()).isEqualTo(64);
        assertThatThrownBy(
                        () -> LcsmConfig.parse(
                                "{\"vocab_size\": 0, \"embed_dim\": 8, \"num_layers\": 1, \"c_type\": 2, \"o_type\": 11, \"t_type\": 9, \"tau\": 0}"))
                .hasMessageContaining("vocab_size")
                .hasMessageContaining("c_type")
                .hasMessageContaining("o_type 11")
                .hasMessageContaining("t_type")
                .hasMessageContaining("tau");
        assertThatThrownBy(() -> LcsmConfig.parse("{not json")).hasMessageContaining("malformed");
        assertThat(Architectures.byName("lcsm")).isInstanceOf(LcsmArchitecture.class);
        assertThat(Architectures.forConfig(json)).isInstanceOf(LcsmArchitecture.class);
        try (var m =
                Architectures.byName("lcsm").build(Architectures.byName("lcsm").smallConfig(40, 16, 2, 4), 1)) {
            assertThat(m.describe()).contains("LCSM");
        }
    }

    @Test
    void parameterCountFormulaMatchesEveryOscillationType() {
        LcsmConfig base = LcsmConfig.small(37, 12, 2, 3, Preset.SSM);
        List<LcsmConfig> all = new ArrayList<>();
        for (boolean bias : new boolean[] {false, true}) {
            all.add(with(base, 0, 0, 0, true, 0, 0, true, bias));
            for (int o = 0; o <= 10; o++) {
                for (boolean learned : new boolean[] {true, false}) {
                    all.add(with(base, 1, o % 2, o, learned, (o + 1) % 2, o % 8, o != 1, bias));
                }
            }
        }
        all.add(base.withTiedEmbeddings(false));
        for (LcsmConfig c : all) {
            try (LcsmModel m = new LcsmModel(c, 1)) {
                assertThat(m.parameterCount()).as(c.toString()).isEqualTo(LcsmModel.parameterCount(c));
            }
        }
    }

    /** y = Σ_{j≤t} Σ_k S_t[k]·exp(Σ_{r=j+1..t} logO_r[k,c])·E_j[k]·I_j[c], the unrolled recurrence. */
    static double[] closedForm(double[][][] s, double[][][] e, double[][][][] logO, double[][][] i) {
        int b = i.length;
        int n = i[0].length;
        int d = i[0][0].length;
        int k = s[0][0].length;
        double[] y = new double[b * n * d];
        for (int bb = 0; bb < b; bb++) {
            for (int t = 0; t < n; t++) {
                for (int j = 0; j <= t; j++) {
                    for (int r = 0; r < k; r++) {
                        for (int c = 0; c < d; c++) {
                            double l = 0;
                            for (int q = j + 1; q <= t; q++) {
                                l += logO[bb][q][r][c];
                            }
                            y[(bb * n + t) * d + c] += s[bb][t][r] * Math.exp(l) * e[bb][j][r] * i[bb][j][c];
                        }
                    }
                }
            }
        }
        return y;
    }

    /** x W[name]ᵀ for x [B, T, d] (f64 arrays). */
    static double[][][] lin(EosLayer layer, String name, double[][][] x) {
        Tensor w = layer.stateDict().get(name + ".weight");
        int out = w.size(0);
        int in = w.size(1);
        double[] wv = w.toDoubleArray();
        double[][][] y = new double[x.length][x[0].length][out];
        for (int b = 0; b < x.length; b++) {
            for (int t = 0; t < x[0].length; t++) {
                for (int o = 0; o < out; o++) {
                    for (int c = 0; c < in; c++) {
                        y[b][t][o] += wv[o * in + c] * x[b][t][c];
                    }
                }
            }
        }
        return y;
    }

    static double[][][] map(double[][][] x, java.util.function.DoubleUnaryOperator f) {
        double[][][] y = new double[x.length][x[0].length][];
        for (int b = 0; b < x.length; b++) {
            for (int t = 0; t < x[0].length; t++) {
                y[b][t] = Arrays.stream(x[b][t]).map(f).toArray();
            }
        }
        return y;
    }

    static double silu(double v) {
        return v / (1 + Math.exp(-v));
    }

    static double softplus(double v) {
        return Math.log1p(Math.exp(v));
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void namedInstancesEqualTheirClosedForms(Preset p) {
        int b = 2;
        int n = 19;
        int d = 6;
        int k = 4;
        LcsmConfig c = LcsmConfig.small(10, d, 1, k, p);
        EosLayer layer = new EosLayer(c, new Rng(5));
        layer.to(DType.F64);
        double[] xv = Ref.normal(6, b * n * d, 1);
        double[][][] x = new double[b][n][d];
        for (int q = 0; q < xv.length; q++) {
            x[q / (n * d)][(q / d) % n][q % d] = xv[q];
        }
        double[][][] i = lin(layer, "i_proj", x);
        double[][][] e;
        double[][][] s;
        double[][][][] logO = new double[b][n][k][d];
        switch (p) {
            case LINEAR_ATTENTION -> { // o = 1: log o = 0
                e = map(lin(layer, "e_proj", x), LcsmModelTest::silu);
                s = map(lin(layer, "s_proj", x), LcsmModelTest::silu);
            }
            case TNL -> { // o_k = exp(−ALiBi slope_k), the same at every step
                e = map(lin(layer, "e_proj", x), LcsmModelTest::silu);
                s = map(lin(layer, "s_proj", x), LcsmModelTest::silu);
                double[] slopes = fulgur.ops.lightning.LightningDecay.slopes(k);
                for (double[][][] bt : logO) {
                    for (double[][] kt : bt) {
                        for (int r = 0; r < k; r++) {
                            Arrays.fill(kt[r], -slopes[r]);
                        }
                    }
                }
            }
            case SSM -> { // Δ = softplus(W₂W₁x), i ← Δ⊙i, log o = Δ_c·A_k with A_k = −(k+1), e = B x, s = C x
                double[][][] delta =
                        map(lin(layer, "inter_proj.1", lin(layer, "inter_proj.0", x)), LcsmModelTest::softplus);
                double[] oParam = layer.stateDict().get("o").toDoubleArray(); // log(1..k), stored in f32 at init
                for (int r = 0; r < k; r++) {
                    assertThat(Math.exp(oParam[r * d])).isCloseTo(r + 1, org.assertj.core.data.Offset.offset(1e-6));
                }
                e = lin(layer, "e_proj", x);
                s = lin(layer, "s_proj", x);
                for (int bb = 0; bb < b; bb++) {
                    for (int t = 0; t < n; t++) {
                        for (int cc = 0; cc < d; cc++) {
                            i[bb][t][cc] *= delta[bb][t][cc];
                            for (int r = 0; r < k; r++) {
                                logO[bb][t][r][cc] = -Math.exp(oParam[r * d + cc]) * delta[bb][t][cc];
                            }
                        }
                    }
                }
            }
            case LINEAR_RNN -> { // forget gate g_t = σ(W x_t)^{1/τ} per channel
                e = map(lin(layer, "e_proj", x), LcsmModelTest::silu);
                s = map(lin(layer, "s_proj", x), LcsmModelTest::silu);
                double[][][] g = lin(layer, "o_proj", x);
                for (int bb = 0; bb < b; bb++) {
                    for (int t = 0; t < n; t++) {
                        for (int r = 0; r < k; r++) {
                            for (int cc = 0; cc < d; cc++) {
                                logO[bb][t][r][cc] = -Math.log1p(Math.exp(-g[bb][t][cc])) / c.tau();
                            }
                        }
                    }
                }
            }
            default -> throw new IllegalStateException();
        }
        Lcsm.Result r = layer.mix(Tensor.of(xv, b, n, d), null);
        assertThat(GradCheck.relErr(r.output().toDoubleArray(), closedForm(s, e, logO, i)))
                .isLessThan(1e-12);
    }

    @ParameterizedTest
    @EnumSource(Preset.class)
    void decodingWithTheCacheReproducesTheParallelForward(Preset p) {
        LcsmConfig c = LcsmConfig.small(30, 16, 2, 4, p).withTiedEmbeddings(false);
        try (Scope sc = Scope.open();
                LcsmModel m = new LcsmModel(c, 3);
                var g = GradMode.noGrad()) {
            m.to(DType.F64);
            int t = 37; // prefill over several chunks, then single tokens
            Tensor x = ids(4, 2, t, 30);
            double[] full = m.forward(x).toDoubleArray();
            try (LcsmCache cache = m.newCache()) {
                List<Tensor> parts = new ArrayList<>();
                parts.add(m.forward(x.narrow(1, 0, 21), cache));
                parts.add(m.forward(x.narrow(1, 21, 3), cache));
                for (int i = 24; i < t; i++) {
                    parts.add(m.forward(x.narrow(1, i, 1), cache));
                }
                double[] got =
                        fulgur.ops.Views.concat(1, parts.toArray(Tensor[]::new)).toDoubleArray();
                assertThat(GradCheck.relErr(got, full)).isLessThan(1e-12);
                assertThat(cache.position()).isEqualTo(t);
                assertThat(cache.stateBytes()).isEqualTo(2L * 2 * 4 * 16 * 8);
            }
        }
    }

    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(ints = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
    void everyOscillationTypeDecodesLikeItsParallelForward(int oType) {
        for (boolean tauAndLearned : new boolean[] {true, false}) {
            LcsmConfig c = with(
                    LcsmConfig.small(20, 8, 1, 3, Preset.SSM),
                    1,
                    oType % 2,
                    oType,
                    tauAndLearned,
                    (oType + 1) % 2,
                    oType % 8,
                    tauAndLearned,
                    oType % 3 == 0);
            try (Scope sc = Scope.open();
                    LcsmModel m = new LcsmModel(c, 11);
                    var g = GradMode.noGrad();
                    LcsmCache cache = m.newCache()) {
                m.to(DType.F64);
                Tensor x = ids(12, 2, 9, 20);
                double[] full = m.forward(x).toDoubleArray();
                assertThat(Arrays.stream(full).allMatch(Double::isFinite)).isTrue();
                Tensor a = m.forward(x.narrow(1, 0, 5), cache);
                Tensor b = m.forward(x.narrow(1, 5, 4), cache);
                assertThat(GradCheck.relErr(fulgur.ops.Views.concat(1, a, b).toDoubleArray(), full))
                        .as(c.toString())
                        .isLessThan(1e-12);
            }
        }
    }

    @Test
    void f32DecodingMatchesTheParallelForward() {
        LcsmConfig c = LcsmConfig.small(30, 16, 2, 4, Preset.SSM);
        try (Scope sc = Scope.open();
                LcsmModel m = new LcsmModel(c, 3);
                var g = GradMode.noGrad();
                LcsmCache cache = m.newCache()) {
            Tensor x = ids(5, 1, 20, 30);
            double[] full = m.forward(x).toDoubleArray();
            List<Tensor> parts = new ArrayList<>();
            for (int i = 0; i < 20; i++) {
                parts.add(m.forward(x.narrow(1, i, 1), cache));
            }
            assertThat(GradCheck.relErr(
                            fulgur.ops.Views.concat(1, parts.toArray(Tensor[]::new))
                                    .toDoubleArray(),
                            full))
                    .isLessThan(1e-5);
        }
    }

    @Test
    void loadsACheckpointWithTheReferenceNames() {
        LcsmConfig c = LcsmConfig.small(11, 6, 1, 4, Preset.LINEAR_RNN).withTiedEmbeddings(false);
        Map<String, int[]> ref = new LinkedHashMap<>();
        ref.put("model.embed_tokens.weight", new int[] {11, 6});
        ref.put("model.layers.0.token_norm.weight", new int[] {6});
        ref.put("model.layers.0.token_mixer.i_proj.weight", new int[] {6, 6});
        ref.put("model.layers.0.token_mixer.e_proj.weight", new int[] {4, 6});
        ref.put("model.layers.0.token_mixer.o_proj.weight", new int[] {6, 6});
        ref.put("model.layers.0.token_mixer.s_proj.weight", new int[] {4, 6});
        ref.put("model.layers.0.token_mixer.norm.weight", new int[] {6});
        ref.put("model.layers.0.token_mixer.norm.bias", new int[] {6});
        ref.put("model.layers.0.token_mixer.output_proj.weight", new int[] {6, 6});
        ref.put("model.layers.0.channel_norm.weight", new int[] {6});
        ref.put("model.layers.0.channel_mixer.w1.weight", new int[] {16, 6});
        ref.put("model.layers.0.channel_mixer.w2.weight", new int[] {16, 6});
        ref.put("model.layers.0.channel_mixer.w3.weight", new int[] {6, 16});
        ref.put("model.final_norm.weight", new int[] {6});
        ref.put("lm_head.weight", new int[] {11, 6});
        try (LcsmModel m = new LcsmModel(c, 2)) {
            Map<String, Tensor> state = new LinkedHashMap<>();
            long seed = 1;
            for (var e : ref.entrySet()) {
                state.put(
                        e.getKey(),
                        Tensor.of(DType.F32, Ref.normal(seed++, (int) Ref.numel(e.getValue()), 1), e.getValue()));
            }
            m.loadStateDict(state, true);
            assertThat(m.stateDict()
                            .get("model.layers.0.token_mixer.o_proj.weight")
                            .toFloatArray())
                    .containsExactly(state.get("model.layers.0.token_mixer.o_proj.weight")
                            .toFloatArray());
            Map<String, Tensor> wrong = new LinkedHashMap<>(state);
            wrong.put("model.layers.0.token_mixer.e_proj.weight", Tensor.zeros(DType.F32, 5, 6));
            assertThatThrownBy(() -> m.loadStateDict(wrong, true))
                    .hasMessageContaining("model.layers.0.token_mixer.e_proj.weight");
            Map<String, Tensor> missing = new LinkedHashMap<>(state);
            missing.remove("model.layers.0.token_mixer.s_proj.weight");
            assertThatThrownBy(() -> m.loadStateDict(missing, true))
                    .hasMessageContaining("model.layers.0.token_mixer.s_proj.weight");
        }
        // the SSM instance: inter_proj is a Sequential of two Linears, o holds log(1..k)
        try (LcsmModel m = new LcsmModel(LcsmConfig.small(11, 6, 1, 4, Preset.SSM), 2)) {
            assertThat(m.namedParameters().keySet())
                    .contains(
                            "model.layers.0.token_mixer.inter_proj.0.weight",
                            "model.layers.0.token_mixer.inter_proj.1.weight",
                            "model.layers.0.token_mixer.o");
            assertThat(m.namedParameters()
                            .get("model.layers.0.token_mixer.inter_proj.0.weight")
                            .shape())
                    .containsExactly(16, 6);
            assertThat(m.stateDict().get("model.layers.0.token_mixer.o").get(3, 0))
                    .isCloseTo(Math.log(4), org.assertj.core.data.Offset.offset(1e-6));
        }
    }

    @Test
    void gradientsMatchFiniteDifferencesInF64() {
        LcsmConfig c = LcsmConfig.small(9, 6, 1, 2, Preset.SSM);
        try (LcsmModel m = new LcsmModel(c, 7)) {
            m.to(DType.F64);
            Tensor x = ids(1, 2, 5, 9);
            Tensor y = ids(2, 2, 5, 9).reshape(-1);
            var ps = m.namedParameters();
            GradCheck.check(
                    t -> m.loss(x, y),
                    ps.get("model.layers.0.token_mixer.o").value(),
                    ps.get("model.layers.0.token_mixer.inter_proj.0.weight").value(),
                    ps.get("model.layers.0.token_mixer.e_proj.weight").value());
        }
    }
}
