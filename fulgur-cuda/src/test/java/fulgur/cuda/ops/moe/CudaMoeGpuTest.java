package fulgur.cuda.ops.moe;

import static fulgur.cuda.BackendCheck.GPU;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.Autograd;
import fulgur.backend.Kernels;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.ops.FamilyCheck;
import fulgur.layers.MoeFeedForward;
import fulgur.nn.Linear;
import fulgur.nn.Parameter;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.ops.moe.MoeKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.MixedPrecision;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link MoeFeedForward} on CUDA through the whole-layer kernel ({@link CudaMoe}: device routing, grouped GEMMs, no
 * host reads) in bf16 against the same layer on the CPU in f32 (bf16-representable weights and inputs) and composed on
 * CUDA (f32): output, the load-balancing loss, the tokens per expert (exactly), and the gradients of the input and of
 * every parameter (router and experts); experts left without tokens are included.
 *
 * <p>In bf16 the router's logits are bf16: the f32 logits rounded, so a token whose k-th and (k+1)-th logits lie
 * within a rounding of each other may pick another expert (or tie, broken towards the lower index), and a gate is off
 * by up to (1 − g)·2^-8·(|l_1| + |l_2|) (several percent for logits of 8). The kernel gets those logits as its input,
 * so its reference is the f32 layer routed by the same logits ({@link MoeFeedForward#forward(Tensor, Tensor)}, their
 * gradient passed on to the f32 gate): routing then agrees exactly, token for token, and the rest to bf16 precision.
 * That the logits themselves are the f32 ones to bf16 rounding is checked apart.
 */
@Tag("gpu")
class CudaMoeGpuTest {

    record Run(double[] out, double aux, int[] counts, double[] dx, Map<String, double[]> grads) {}

    static MoeFeedForward layer(int d, int f, int e, int k, boolean sigmoid, boolean normalize, long seed) {
        Rng r = new Rng(seed);
        boolean[] first = {true};
        MoeFeedForward.Routing routing = new MoeFeedForward.Routing(
                e, k, sigmoid ? MoeFeedForward.Gating.SIGMOID : MoeFeedForward.Gating.SOFTMAX, normalize, 0.05);
        return new MoeFeedForward(d, f, routing, (in, out) -> {
            double std = first[0] ? 3.0 / Math.sqrt(in) : 1 / Math.sqrt(in); // the router first: logits of a few units
            first[0] = false;
            return new Linear(
                    r.normal(DType.F32, 0, std, out, in).to(DType.BF16).to(DType.F32), null);
        });
    }

    static Run run(MoeFeedForward m, Tensor x, Tensor w) {
        return run(m, x, w, null);
    }

    /**
     * The layer's output, losses and gradients; with {@code logits} (on x's device) routed by those values, their
     * gradient passed on unchanged to the layer's own gate (so the gate's gradient is that of the given logits).
     */
    static Run run(MoeFeedForward m, Tensor x, Tensor w, Tensor logits) {
        Tensor xi = x.detach().requiresGrad(true);
        Tensor out;
        if (logits == null) {
            out = m.forward(xi);
        } else {
            Tensor own = m.gate().forward(Views.reshape(xi, (int) (xi.numel() / m.dim()), m.dim()));
            out = m.forward(xi, Autograd.record("the kernel's router logits", logits.copy(), new Tensor[] {own}, g ->
                    new Tensor[] {g}));
        }
        Tensor loss = Elementwise.add(
                Reductions.sum(Elementwise.mul(out, w)).to(DType.F32),
                m.auxLoss().to(DType.F32));
        loss.backward();
        Map<String, double[]> grads = new java.util.TreeMap<>();
        for (Map.Entry<String, Parameter> p : m.namedParameters().entrySet()) {
            Tensor g = p.getValue().grad();
            grads.put(
                    p.getKey(),
                    g == null ? new double[(int) p.getValue().value().numel()] : g.toDoubleArray());
        }
        return new Run(
                out.toDoubleArray(),
                m.auxLoss().item(),
                m.tokensPerExpert(),
                xi.grad().toDoubleArray(),
                grads);
    }

    static void compare(String what, Run got, Run ref, double tolOut, double tolGrad) {
        compare(what, got, ref, tolOut, tolGrad, null);
    }

    /**
     * As above; with {@code base} (the same layer on the CPU in the precision got was computed in), a parameter's
     * gradient may also be off by up to {@link #MARGIN} times base's error in it: a gradient formed from few tokens by
     * differences of nearly equal terms (the router's, with top-k gates normalised: w₁w₂(g₁ − g₂) per token) loses
     * more of itself than the usual bound on any device in that precision.
     */
    static void compare(String what, Run got, Run ref, double tolOut, double tolGrad, Run base) {
        double eo = BackendCheck.relErr(got.out(), ref.out()), ex = BackendCheck.relErr(got.dx(), ref.dx());
        double ea = Math.abs(got.aux() - ref.aux()) / Math.abs(ref.aux());
        StringBuilder sb = new StringBuilder(String.format("%s: out %.2e aux %.2e dx %.2e", what, eo, ea, ex));
        double worst = 0, worstBound = tolGrad;
        String worstName = "";
        for (String n : ref.grads().keySet()) {
            double e = BackendCheck.relErr(got.grads().get(n), ref.grads().get(n));
            double bound = base == null
                    ? tolGrad
                    : Math.max(
                            tolGrad,
                            MARGIN
                                    * BackendCheck.relErr(
                                            base.grads().get(n), ref.grads().get(n)));
            if (e / bound > worst / worstBound) {
                worst = e;
                worstBound = bound;
                worstName = n;
            }
        }
        System.out.println(sb.append(
                String.format(" worst parameter gradient %.2e of its bound %.2e (%s)", worst, worstBound, worstName)));
        assertThat(got.counts()).as(what + " tokens per expert").containsExactly(ref.counts());
        assertThat(eo).as(what + " out").isLessThan(tolOut);
        assertThat(ea).as(what + " aux").isLessThan(tolOut);
        assertThat(ex).as(what + " dx").isLessThan(tolGrad);
        assertThat(worst).as(what + " gradient of " + worstName).isLessThan(worstBound);
    }

    /** How far past the CPU's own bf16 error a parameter's gradient may go (the kernel rounds at other points). */
    static final double MARGIN = 1.5;

    @ParameterizedTest(name = "B={0} T={1} D={2} F={3} E={4} k={5} sigmoid={6} normalize={7}")
    @CsvSource({
        "3, 41, 64, 128, 8, 2, false, true",
        "2, 100, 32, 64, 4, 1, true, false",
        "1, 5, 64, 64, 32, 2, false, true",
        "2, 67, 128, 96, 16, 4, true, true",
    })
    void kernelMatchesCpuAndComposed(int b, int t, int d, int f, int e, int k, boolean sigmoid, boolean normalize) {
        BackendCheck.gpu();
        long seed = 19L * d + e;
        try (Scope s = Scope.open("moe")) {
            Rng r = new Rng(seed);
            Tensor x = r.normal(DType.F32, 0, 1, b, t, d).to(DType.BF16).to(DType.F32);
            Tensor w = r.normal(DType.F32, 0, 1, b, t, d).to(DType.BF16).to(DType.F32);
            MoeFeedForward cm = layer(d, f, e, k, sigmoid, normalize, seed);
            Run cpu = run(cm, x, w);
            double[] cpuLogits = cm.routerLogits().toDoubleArray();

            MoeFeedForward gm = layer(d, f, e, k, sigmoid, normalize, seed);
            gm.to(GPU);
            Run kernel;
            Tensor logits;
            try (MixedPrecision mp = MixedPrecision.bf16(gm);
                    FamilyCheck.Calls calls = FamilyCheck.Calls.on(GPU, MoeKernels.class)) {
                kernel = run(gm, x.to(DType.BF16).to(GPU), w.to(DType.BF16).to(GPU));
                assertThat(calls.count("MoeKernels.forward")).isEqualTo(1);
                assertThat(calls.count("MoeKernels.backward")).isEqualTo(1);
                logits = gm.routerLogits().to(DType.F32).to(Device.CPU);
            }
            // the logits the kernel routed by: the f32 ones rounded to bf16 (within 2^-8 relative) after a sum in
            // another order
            assertThat(logits.dtype()).isEqualTo(DType.F32);
            double[] kl = logits.toDoubleArray();
            for (int i = 0; i < kl.length; i++) {
                assertThat(Math.abs(kl[i] - cpuLogits[i]))
                        .as("router logit %d", i)
                        .isLessThanOrEqualTo(0x1p-8 * Math.abs(cpuLogits[i]) + 1e-4);
            }
            Run same = run(layer(d, f, e, k, sigmoid, normalize, seed), x, w, logits);
            MoeFeedForward bm = layer(d, f, e, k, sigmoid, normalize, seed);
            Run cpuBf16;
            try (MixedPrecision mp = MixedPrecision.bf16(bm)) {
                cpuBf16 = run(bm, x.to(DType.BF16), w.to(DType.BF16), logits.to(DType.BF16));
            }
            compare("moe kernel (bf16) vs cpu (f32) routed by the kernel's logits", kernel, same, 1e-2, 1e-2, cpuBf16);

            MoeFeedForward fm = layer(d, f, e, k, sigmoid, normalize, seed);
            fm.to(GPU);
            Run composed;
            try (var none = Kernels.use(MoeKernels.class, null)) {
                composed = run(fm, x.to(GPU), w.to(GPU));
            }
            // against the layer in f64, each gradient as close as the CPU's own f32 one is (or 1e-4): a router whose
            // top logit leads by ~20 gets a gradient of ~1e-5 that f32 itself gets only to a few 1e-3
            MoeFeedForward tm = layer(d, f, e, k, sigmoid, normalize, seed);
            tm.to(DType.F64);
            Run truth = run(tm, x.to(DType.F64), w.to(DType.F64));
            compare("moe composed on cuda (f32) vs cpu (f64)", composed, truth, 1e-5, 1e-4, cpu);
        }
    }
}
