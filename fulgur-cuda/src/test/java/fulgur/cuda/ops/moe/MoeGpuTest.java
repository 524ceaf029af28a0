package fulgur.cuda.ops.moe;

import static fulgur.cuda.BackendCheck.GPU;

import fulgur.backend.Backends;
import fulgur.backend.StepGraph;
import fulgur.cuda.BackendCheck;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.OutputCheck;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The device-side MoE kernels against the per-token f64 reference: routing decisions exactly (experts, counts,
 * offsets, each pair's row in stable expert order), gates and the load-balancing loss in f32, the layer's output and
 * every gradient (rows, the three expert weights, the router logits through the gates and the loss) at bf16
 * tolerance (d logits also within a rounding bound of the terms that cancel in it: with top-1 renormalised gates the gate
 * is identically 1 and only the load-balancing loss's tiny gradient remains); experts without tokens (forced by very
 * low logits, or too few tokens) included. Outputs start as NaN.
 */
@Tag("gpu")
class MoeGpuTest {
    static final double TOL = 1e-2;

    record Layer(
            int n,
            int dim,
            int hidden,
            int e,
            int k,
            boolean sigmoid,
            boolean normalize,
            DType logitsType,
            int starved) {
        MoeRouter.Config config() {
            return new MoeRouter.Config(
                    e, k, sigmoid ? MoeRouter.Gating.SIGMOID : MoeRouter.Gating.SOFTMAX, normalize, 0.01);
        }

        MoeReference.Config reference() {
            return new MoeReference.Config(e, k, sigmoid, normalize, 0.01);
        }
    }

    /** Random inputs of one layer (CPU tensors; values exactly representable in their dtypes). */
    record Inputs(Tensor logits, Tensor x, Tensor w1, Tensor w3, Tensor w2, Tensor dOut, double dAux) {
        static Inputs draw(Layer l, long seed) {
            Rng r = new Rng(seed);
            Tensor logits = r.normal(DType.F32, 0, 2, l.n(), l.e());
            if (l.starved() > 0) { // the last experts never win: their logits are far below every other
                float[] a = logits.toFloatArray();
                for (int t = 0; t < l.n(); t++)
                    for (int i = l.e() - l.starved(); i < l.e(); i++) a[t * l.e() + i] = -40f - i;
                logits = Tensor.of(a, l.n(), l.e());
            }
            return new Inputs(
                    logits.to(l.logitsType()),
                    bf16(r, 1, l.n(), l.dim()),
                    bf16(r, 1 / Math.sqrt(l.dim()), l.e(), l.hidden(), l.dim()),
                    bf16(r, 1 / Math.sqrt(l.dim()), l.e(), l.hidden(), l.dim()),
                    bf16(r, 1 / Math.sqrt(l.hidden()), l.e(), l.dim(), l.hidden()),
                    bf16(r, 1, l.n(), l.dim()),
                    0.5 + r.nextDouble());
        }

        static Tensor bf16(Rng r, double std, int... shape) {
            return r.normal(DType.F32, 0, std, shape).to(DType.BF16);
        }

        MoeReference.Result reference(Layer l) {
            return MoeReference.run(
                    l.reference(),
                    l.n(),
                    l.dim(),
                    l.hidden(),
                    logits.toDoubleArray(),
                    x.toDoubleArray(),
                    w1.toDoubleArray(),
                    w3.toDoubleArray(),
                    w2.toDoubleArray(),
                    dOut.toDoubleArray(),
                    dAux);
        }
    }

    /** What the device computes for one layer, forward and backward. */
    record Outputs(
            MoeRouter.Routing routing,
            Tensor out,
            Tensor dGates,
            Tensor dx,
            Tensor dw1,
            Tensor dw3,
            Tensor dw2,
            Tensor dLogits) {}

    static Outputs runOnDevice(
            CudaBackend be,
            Layer l,
            Tensor logits,
            Tensor x,
            Tensor w1,
            Tensor w3,
            Tensor w2,
            Tensor dOut,
            Tensor dAux) {
        MoeRouter router = new MoeRouter(be);
        ExpertFfn ffn = new ExpertFfn(be);
        MoeRouter.Routing r = router.route(logits, l.config());
        Tensor rows = router.gather(x, r);
        ExpertFfn.Forward f = ffn.forward(rows, w1, w3, w2, r.offsets());
        Tensor out = router.combine(f.y(), r);
        MoeRouter.CombineGradients cg = router.combineBackward(dOut, f.y(), r);
        ExpertFfn.Gradients fg = ffn.backward(cg.dRows(), rows, w1, w3, w2, r.offsets(), f.saved(), DType.F32);
        Tensor dx = router.gatherBackward(fg.dx(), r);
        Tensor dLogits = router.routeBackward(logits, r, cg.dGates(), dAux);
        return new Outputs(r, out, cg.dGates(), dx, fg.dw1(), fg.dw3(), fg.dw2(), dLogits);
    }

    static void compare(OutputCheck c, Layer l, Outputs o, MoeReference.Result ref) {
        MoeReference.Routing rr = ref.routing();
        int[] starts = java.util.Arrays.copyOf(rr.offsets(), l.e());
        c.note("tokens per expert " + java.util.Arrays.toString(rr.counts()) + ", expert starts "
                + java.util.Arrays.toString(starts));
        c.exact("experts", o.routing().experts().toIntArray(), rr.top());
        c.exact("counts", o.routing().counts().toIntArray(), rr.counts());
        c.exact("offsets", o.routing().offsets().toIntArray(), rr.offsets());
        c.exact("rows", o.routing().rows().toIntArray(), rr.rows());
        c.exact("tokenOf", o.routing().tokenOfRow().toIntArray(), rr.tokenOfRow());
        c.add("gates", o.routing().gates().toDoubleArray(), rr.gates(), 1e-5, l.n(), l.k());
        c.add("aux", o.routing().auxLoss().toDoubleArray(), new double[] {rr.aux()}, 1e-4, 1);
        c.add("out", o.out().toDoubleArray(), ref.out(), TOL, l.n(), l.dim());
        c.add("dGates", o.dGates().toDoubleArray(), ref.dGates(), TOL, l.n(), l.k());
        c.add("dx", o.dx().toDoubleArray(), ref.dx(), TOL, l.n(), l.dim());
        c.add("dw1", o.dw1().toDoubleArray(), ref.dw1(), TOL, l.e(), l.hidden(), l.dim());
        c.add("dw3", o.dw3().toDoubleArray(), ref.dw3(), TOL, l.e(), l.hidden(), l.dim());
        c.add("dw2", o.dw2().toDoubleArray(), ref.dw2(), TOL, l.e(), l.dim(), l.hidden());
        // f32 routing backward: its rounding, relative to the terms that cancel, stays far under 1e-5
        c.addCancelling(
                "dLogits", o.dLogits().toDoubleArray(), ref.dLogits(), ref.dLogitsScale(), TOL, 1e-5, l.n(), l.e());
    }

    @ParameterizedTest(name = "N={0} D={1} F={2} E={3} k={4} sigmoid={5} normalize={6} logits={7} starved={8}")
    @CsvSource({
        "300, 64, 128, 8, 2, false, true, F32, 0",
        "257, 128, 64, 32, 2, false, false, F32, 4",
        "100, 64, 96, 8, 1, true, false, F32, 0",
        "1000, 64, 64, 32, 2, true, true, BF16, 2",
        "5, 64, 64, 32, 2, false, true, F32, 0",
        "5000, 32, 32, 32, 1, false, true, F32, 0",
        "600, 64, 200, 8, 8, false, true, F32, 0",
        "1, 16, 16, 8, 2, false, true, F32, 0",
    })
    void layerMatchesTheReference(
            int n,
            int dim,
            int hidden,
            int e,
            int k,
            boolean sigmoid,
            boolean normalize,
            DType logitsType,
            int starved) {
        CudaBackend be = BackendCheck.gpu();
        Layer l = new Layer(n, dim, hidden, e, k, sigmoid, normalize, logitsType, starved);
        Inputs in = Inputs.draw(l, 1234L + n * 31L + e * 7L + k);
        MoeReference.Result ref = in.reference(l);
        try (Scope s = Scope.open("moe")) {
            Outputs o = runOnDevice(
                    be,
                    l,
                    in.logits().to(GPU),
                    in.x().to(GPU),
                    in.w1().to(GPU),
                    in.w3().to(GPU),
                    in.w2().to(GPU),
                    in.dOut().to(GPU),
                    Tensor.of(new float[] {(float) in.dAux()}, 1).to(GPU));
            OutputCheck c = new OutputCheck("moe layer " + l);
            compare(c, l, o, ref);
            c.verify();
        }
    }

    /** The whole layer, forward and backward, captured once and replayed on new inputs: no host reads inside. */
    @Test
    void capturesAsACudaGraph() {
        CudaBackend be = BackendCheck.gpu();
        Layer l = new Layer(700, 64, 128, 16, 2, false, true, DType.F32, 3);
        Inputs first = Inputs.draw(l, 99), second = Inputs.draw(l, 100);
        try (Scope s = Scope.open("moe-graph")) {
            Tensor logits = first.logits().to(GPU),
                    x = first.x().to(GPU),
                    w1 = first.w1().to(GPU),
                    w3 = first.w3().to(GPU);
            Tensor w2 = first.w2().to(GPU),
                    dOut = first.dOut().to(GPU),
                    dAux = Tensor.of(new float[] {(float) first.dAux()}, 1).to(GPU);
            runOnDevice(be, l, logits, x, w1, w3, w2, dOut, dAux); // loads the kernels outside the capture
            Outputs[] held = new Outputs[1];
            try (StepGraph graph = Backends.runtime(GPU)
                    .capture(() -> held[0] = runOnDevice(be, l, logits, x, w1, w3, w2, dOut, dAux))) {
                logits.copyFrom(second.logits());
                x.copyFrom(second.x());
                w1.copyFrom(second.w1());
                w3.copyFrom(second.w3());
                w2.copyFrom(second.w2());
                dOut.copyFrom(second.dOut());
                dAux.copyFrom(Tensor.of(new float[] {(float) second.dAux()}, 1));
                graph.replay();
                OutputCheck c = new OutputCheck("moe layer replayed from a CUDA graph " + l);
                compare(c, l, held[0], second.reference(l));
                c.verify();
            }
        }
    }

    @ParameterizedTest(name = "counts={0} K={1} N={2}")
    @CsvSource({
        "0 130 0 1 300, 72, 200",
        "128 128, 128, 128",
        "5, 1024, 64",
        "0 0 0 17, 32, 8",
    })
    void groupedGemmMatchesPerExpertProducts(String countsText, int kDim, int nDim) {
        CudaBackend be = BackendCheck.gpu();
        GroupedGemm gg = new GroupedGemm(be);
        int[] counts = java.util.Arrays.stream(countsText.split(" "))
                .mapToInt(Integer::parseInt)
                .toArray();
        int e = counts.length;
        int[] offsets = new int[e + 1];
        for (int i = 0; i < e; i++) offsets[i + 1] = offsets[i] + counts[i];
        int m = offsets[e];
        Rng r = new Rng(777L + m + kDim + nDim);
        try (Scope s = Scope.open("gemm")) {
            Tensor a = Inputs.bf16(r, 1, m, kDim),
                    w = Inputs.bf16(r, 1 / Math.sqrt(kDim), e, nDim, kDim),
                    dy = Inputs.bf16(r, 1, m, nDim);
            Tensor c0 = Inputs.bf16(r, 1, m, nDim);
            double[] aa = a.toDoubleArray(), wa = w.toDoubleArray(), da = dy.toDoubleArray(), ca = c0.toDoubleArray();
            double[] y = new double[m * nDim], dxr = new double[m * kDim], dwr = new double[e * nDim * kDim];
            for (int ex = 0; ex < e; ex++) {
                for (int row = offsets[ex]; row < offsets[ex + 1]; row++) {
                    for (int j = 0; j < nDim; j++) {
                        for (int q = 0; q < kDim; q++) {
                            y[row * nDim + j] += aa[row * kDim + q] * wa[(ex * nDim + j) * kDim + q];
                            dxr[row * kDim + q] += da[row * nDim + j] * wa[(ex * nDim + j) * kDim + q];
                            dwr[(ex * nDim + j) * kDim + q] += da[row * nDim + j] * aa[row * kDim + q];
                        }
                    }
                }
            }
            double[] yAcc = y.clone();
            for (int i = 0; i < yAcc.length; i++) yAcc[i] += ca[i];
            Tensor off = Tensor.ofInts(offsets, e + 1).to(GPU);
            Tensor ag = a.to(GPU), wg = w.to(GPU), dg = dy.to(GPU);
            Tensor yg = gg.forward(ag, wg, off);
            Tensor acc = c0.to(GPU);
            gg.forwardInto(ag, wg, off, acc, true);
            Tensor dxg = gg.backwardInput(dg, wg, off);
            Tensor dw32 = gg.backwardWeight(dg, ag, off, DType.F32);
            Tensor dw16 = gg.backwardWeight(dg, ag, off, DType.BF16);
            OutputCheck c = new OutputCheck("grouped GEMM counts=" + countsText + " K=" + kDim + " N=" + nDim);
            c.add("y", yg.toDoubleArray(), y, TOL, m, nDim);
            c.add("y+c", acc.toDoubleArray(), yAcc, TOL, m, nDim);
            c.add("dx", dxg.toDoubleArray(), dxr, TOL, m, kDim);
            c.add("dW f32", dw32.toDoubleArray(), dwr, 1e-5, e, nDim, kDim);
            c.add("dW bf16", dw16.toDoubleArray(), dwr, TOL, e, nDim, kDim);
            c.verify();
        }
    }
}
