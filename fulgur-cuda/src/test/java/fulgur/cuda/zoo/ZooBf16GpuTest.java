package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.ints;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.DecodeCache;
import fulgur.models.LanguageModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.MixedPrecision;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every architecture's bf16 mixed-precision training step on CUDA (the family kernels) against the same model in f32 on
 * the CPU (bf16-representable weights): the loss and every parameter's gradient within bf16 tolerance; the step reaches
 * the kernels of the families the architecture is built from (counted through the registry); and on the GPU, decoding
 * token by token after a prefill gives the logits of the whole sequence. Width 128 with 2 heads (head dims 64: the
 * tensor-core paths), 2 layers, an odd length above one kernel block. MiniMax's routers get weights large enough that no
 * token sits near a routing tie, so bf16 rounding cannot change a choice.
 *
 * <p>The gradients' tolerances are per architecture: bf16 costs each a different error at these sizes (moving every
 * weight by a random ±2^-9 in f64 moves HGRN2's gradients 4 times and LCSM's 8 times as much as TNL's), measured as
 * {@link #BASELINE} without any CUDA kernel and kept current by {@link ZooBf16BaselineTest}.
 */
@Tag("gpu")
class ZooBf16GpuTest {
    static final int VOCAB = 97, T = 67, PREFILL = 30, DECODE = 10;

    /** Relative error over all gradients, and of the worst single gradient tensor (named). */
    record GradErr(double all, double worst, String worstName) {}

    /**
     * Each architecture's bf16 error: its bf16 mixed-precision step on the CPU (no CUDA kernel: the CPU's ops, in bf16
     * where the model computes in bf16) against the same model in f64, with this test's model, weights and batch; f32
     * is within 4e-6 of f64 here, so it is also the error against this test's f32 reference. Measured by {@link
     * ZooBf16BaselineTest} (which fails when a figure is no longer what the CPU gives).
     */
    static final Map<String, GradErr> BASELINE = Map.of(
            "tnl", new GradErr(6.96e-3, 9.47e-3, "model.layers.1.token_mixer.qkvu_proj.weight"),
            "hgrn2", new GradErr(2.36e-2, 3.80e-2, "model.layers.1.attn.q_proj.weight"),
            "metala", new GradErr(6.94e-3, 1.28e-2, "model.layers.0.token_mixer.q_proj.weight"),
            "lightnet", new GradErr(8.24e-3, 1.53e-2, "model.layers.0.attn.q_proj.weight"),
            "lcsm", new GradErr(2.65e-2, 6.37e-2, "model.layers.0.token_mixer.o"),
            "llama", new GradErr(5.30e-3, 9.04e-3, "model.layers.1.self_attn.q_proj.weight"),
            "linear-llama", new GradErr(1.19e-2, 1.38e-2, "model.layers.0.input_layernorm.weight"),
            "minimax", new GradErr(5.98e-3, 5.76e-2, "model.layers.1.block_sparse_moe.gate.weight"));

    /**
     * The CUDA step's errors may exceed the baseline by this factor: the kernels round at other points than the CPU's
     * ops (on an H100, 2026-12-06, the eight architectures' errors were 0.88 to 1.05 times the CPU's over all gradients,
     * 0.77 to 1.22 times for the worst tensor), while a kernel that drops a term or a rounding's worth of bits moves a
     * gradient by far more than half a bf16 step's error.
     */
    static final double MARGIN = 1.5;

    static Stream<String> names() {
        return Architectures.all().stream().map(Architecture::name);
    }

    /** The kernel calls each architecture's step makes on CUDA (forward and backward of each family it is built from). */
    static List<String> expected(String name) {
        List<String> glu = List.of("GluKernels.siluMul", "GluKernels.siluMulBackward");
        List<String> lightning = List.of("LightningKernels.forward", "LightningKernels.backward");
        List<String> attention = List.of("AttentionKernels.forward", "AttentionKernels.backward");
        return switch (name) {
            case "tnl" -> lightning;
            case "hgrn2" ->
                concat(
                        List.of(
                                "GlaKernels.forward",
                                "GlaKernels.backward",
                                "LogDecayKernels.forward",
                                "LogDecayKernels.backward"),
                        glu);
            case "metala" ->
                concat(
                        List.of(
                                "GlaKernels.forward",
                                "GlaKernels.backward",
                                "LogDecayKernels.forward",
                                "LogDecayKernels.backward",
                                "ShortConvKernels.forward",
                                "ShortConvKernels.backward"),
                        glu);
            case "lightnet" ->
                concat(
                        List.of(
                                "LightNetKernels.forward",
                                "LightNetKernels.backward",
                                "GatedNormKernels.forward",
                                "GatedNormKernels.backward"),
                        glu);
            case "lcsm" -> concat(List.of("LcsmKernels.forward", "LcsmKernels.backward"), glu);
            case "llama" -> concat(attention, glu);
            case "linear-llama" -> concat(lightning, glu);
            case "minimax" ->
                concat(
                        concat(lightning, attention),
                        List.of(
                                "MoeKernels.forward",
                                "MoeKernels.backward",
                                "GatedNormKernels.forward",
                                "GatedNormKernels.backward"));
            default -> throw new IllegalArgumentException("no expectation for architecture " + name);
        };
    }

    static List<String> concat(List<String> a, List<String> b) {
        return Stream.concat(a.stream(), b.stream()).toList();
    }

    /** bf16-representable weights; MiniMax's routers scaled up (no near-ties among the top-k logits). */
    static LanguageModel build(Architecture a, String config) {
        LanguageModel m = a.build(config, 7);
        try (var ng = GradMode.noGrad()) {
            for (Map.Entry<String, Parameter> p : m.module().namedParameters().entrySet()) {
                Tensor v = p.getValue().value();
                if (!v.dtype().isFloating()) continue;
                Tensor w = p.getKey().endsWith("block_sparse_moe.gate.weight") ? v.mul(40.0) : v;
                v.copyFrom(w.to(DType.BF16));
            }
        }
        return m;
    }

    @ParameterizedTest
    @MethodSource("names")
    void bf16StepMatchesTheCpuAndDecodingMatchesThePrefill(String name) {
        gpu();
        Architecture a = Architectures.byName(name);
        String config = a.smallConfig(VOCAB, 128, 2, 2);
        try (LanguageModel gm = build(a, config);
                LanguageModel cm = build(a, config)) {
            gm.module().to(GPU);
            try (Scope s = Scope.open(name);
                    MixedPrecision mp = MixedPrecision.bf16(gm.module())) {
                check(name, cm, gm);
            }
        }
    }

    static Tensor ids() {
        return ints(41, DType.I64, VOCAB, 2, T);
    }

    static Tensor targets() {
        return ints(42, DType.I64, VOCAB, 2 * T);
    }

    /** One loss and backward of m on this test's batch (moved to m's device): the loss and every gradient by name. */
    static double step(LanguageModel m, Device device, Map<String, double[]> grads) {
        Tensor loss = m.loss(ids().to(device), targets().to(device));
        loss.backward();
        for (Map.Entry<String, Parameter> p : m.module().namedParameters().entrySet()) {
            Tensor g = p.getValue().grad();
            if (g != null) grads.put(p.getKey(), g.toDoubleArray());
        }
        return loss.item();
    }

    /** The gradients' error against ref's, over the tensors ref has. */
    static GradErr gradErr(Map<String, double[]> got, Map<String, double[]> ref) {
        double worst = 0, num = 0, den = 0;
        String worstName = "";
        for (Map.Entry<String, double[]> r : ref.entrySet()) {
            double[] c = r.getValue(), g = got.get(r.getKey());
            double e = relErr(g, c);
            if (e > worst) {
                worst = e;
                worstName = r.getKey();
            }
            for (int i = 0; i < c.length; i++) {
                num += (g[i] - c[i]) * (g[i] - c[i]);
                den += c[i] * c[i];
            }
        }
        return new GradErr(Math.sqrt(num / den), worst, worstName);
    }

    static void check(String name, LanguageModel cm, LanguageModel gm) {
        Map<String, double[]> cg = new java.util.TreeMap<>(), gg = new java.util.TreeMap<>();
        double cl = step(cm, Device.CPU, cg), gl;
        try (FamilyCheck.Calls calls = FamilyCheck.Calls.everyFamily(GPU)) {
            gl = step(gm, GPU, gg);
            System.out.println(name + ": kernel calls " + new java.util.TreeMap<>(calls.all()));
            for (String call : expected(name))
                assertThat(calls.count(call)).as(name + " reaches " + call).isPositive();
        }
        double le = Math.abs(gl - cl) / Math.abs(cl);
        GradErr e = gradErr(gg, cg), base = BASELINE.get(name);
        System.out.printf(
                "%s: loss cpu %.6f gpu bf16 %.6f (rel %.1e); gradients rel %.2e overall, worst %.2e (%s); the CPU's bf16 step: %.2e, %.2e%n",
                name, cl, gl, le, e.all(), e.worst(), e.worstName(), base.all(), base.worst());
        assertThat(le).as(name + " loss").isLessThan(1e-2);
        assertThat(e.all()).as(name + " all gradients").isLessThan(MARGIN * base.all());
        assertThat(e.worst()).as(name + " gradient of " + e.worstName()).isLessThan(MARGIN * base.worst());

        try (var ng = GradMode.noGrad();
                DecodeCache cache = gm.newCache()) {
            Tensor ids = ids();
            int len = PREFILL + DECODE;
            double[] full = gm.forward(dev(ids.narrow(1, 0, len).contiguous())).toDoubleArray();
            double[] got = new double[full.length];
            double[] first = gm.forward(dev(ids.narrow(1, 0, PREFILL).contiguous()), cache)
                    .toDoubleArray();
            for (int b = 0; b < 2; b++)
                System.arraycopy(first, b * PREFILL * VOCAB, got, b * len * VOCAB, PREFILL * VOCAB);
            for (int i = PREFILL; i < len; i++) {
                double[] step =
                        gm.forward(dev(ids.narrow(1, i, 1).contiguous()), cache).toDoubleArray();
                for (int b = 0; b < 2; b++) System.arraycopy(step, b * VOCAB, got, (b * len + i) * VOCAB, VOCAB);
            }
            double de = relErr(got, full);
            System.out.printf("%s: bf16 prefill + decode vs whole sequence rel %.2e%n", name, de);
            assertThat(de).as(name + " decode").isLessThan(1e-2);
        }
    }
}
