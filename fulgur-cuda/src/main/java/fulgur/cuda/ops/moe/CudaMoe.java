package fulgur.cuda.ops.moe;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.LaunchContext;
import fulgur.ops.moe.MoeKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link MoeKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): {@link MoeRouter} routes on the
 * device, {@link ExpertFfn} runs every expert's gated FFN on its rows through grouped GEMMs that read the per-expert
 * offsets on the device, {@link MoeRouter#combine} sums each token's weighted expert outputs. Nothing is read on the
 * host, so a step with MoE layers can be captured as a CUDA graph. Takes bf16 tokens and expert weights with widths
 * that are multiples of 8, f32 or bf16 router logits, up to {@value MoeRouter#MAX_EXPERTS} experts and top-{@value
 * MoeRouter#MAX_TOP_K}; weight gradients come back in f32.
 */
public final class CudaMoe implements MoeKernels {
    private final LaunchContext lc;
    private final MoeRouter router;
    private final ExpertFfn ffn;

    public CudaMoe(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.router = new MoeRouter(backend);
        this.ffn = new ExpertFfn(backend);
    }

    public static CudaMoe on(Device device) {
        return new CudaMoe(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor x, Tensor logits, DType weights, int hidden, Routing routing) {
        return accepts(x, logits, weights, hidden, routing);
    }

    /** Whether the kernels take a layer of these arguments (metadata only: no device needed). */
    public static boolean accepts(Tensor x, Tensor logits, DType weights, int hidden, Routing routing) {
        int n = x.size(0), d = x.size(1), e = logits.size(1);
        boolean fits = x.dtype() == DType.BF16
                && weights == DType.BF16
                && (logits.dtype() == DType.F32 || logits.dtype() == DType.BF16)
                && n >= 1
                && (long) n * routing.topK() <= Integer.MAX_VALUE
                && d >= 8
                && d % 8 == 0
                && hidden >= 8
                && hidden % 8 == 0
                && e >= 1
                && e <= MoeRouter.MAX_EXPERTS
                && routing.topK() <= Math.min(e, MoeRouter.MAX_TOP_K);
        String what = x.dtype() + " tokens, " + weights + " experts, D " + d + ", F " + hidden + ", E " + e + ", top-"
                + routing.topK();
        return KernelChoice.note(
                "moe",
                fits,
                fits
                        ? "device routing + grouped GEMMs (" + what + ")"
                        : "outside the kernels' (bf16, widths multiples of 8, E ≤ " + MoeRouter.MAX_EXPERTS + ", k ≤ "
                                + MoeRouter.MAX_TOP_K + "): " + what);
    }

    private static MoeRouter.Config config(int experts, Routing r) {
        return new MoeRouter.Config(
                experts,
                r.topK(),
                r.sigmoid() ? MoeRouter.Gating.SIGMOID : MoeRouter.Gating.SOFTMAX,
                r.normalizeTopK(),
                0);
    }

    /** What the backward reads: the routing, the rows in expert order, the experts' outputs and their saved products. */
    private record Saved(MoeRouter.Routing routing, Tensor rows, Tensor y, ExpertFfn.Saved ffn)
            implements AutoCloseable {
        @Override
        public void close() {
            rows.close();
            y.close();
            ffn.close();
            closeRouting(routing);
        }
    }

    /** Everything of a routing but its counts (the layer's result). */
    private static void closeRouting(MoeRouter.Routing r) {
        for (Tensor t : new Tensor[] {r.experts(), r.gates(), r.rows(), r.tokenOfRow(), r.offsets(), r.auxLoss()})
            t.close();
    }

    @Override
    public Forward forward(
            Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, Routing routing, boolean saveForBackward) {
        MoeRouter.Routing r = router.route(logits, config(logits.size(1), routing));
        Tensor rows = router.gather(x, r);
        ExpertFfn.Forward f = ffn.forward(rows, w1, w3, w2, r.offsets());
        Tensor out = router.combine(f.y(), r);
        if (saveForBackward) return new Forward(out, r.counts(), new Saved(r, rows, f.y(), f.saved()));
        rows.close();
        f.y().close();
        f.saved().close();
        closeRouting(r);
        return new Forward(out, r.counts(), null);
    }

    @Override
    public Tensor[] backward(
            Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, Routing routing, Forward forward, Tensor dOut) {
        if (!(forward.saved() instanceof Saved s)) {
            throw new IllegalStateException(
                    "moe.layer: the forward kept nothing for a backward (run it with gradients enabled)");
        }
        Tensor dob = lc.dense(dOut, DType.BF16);
        try (s) {
            MoeRouter.CombineGradients cg = router.combineBackward(dob, s.y(), s.routing());
            ExpertFfn.Gradients fg =
                    ffn.backward(cg.dRows(), s.rows(), w1, w3, w2, s.routing().offsets(), s.ffn(), DType.F32);
            cg.dRows().close();
            Tensor dx = router.gatherBackward(fg.dx(), s.routing());
            fg.dx().close();
            Tensor dLogits = router.routeBackward(logits, s.routing(), cg.dGates(), null);
            cg.dGates().close();
            return new Tensor[] {dx, dLogits, fg.dw1(), fg.dw3(), fg.dw2()};
        } finally {
            LaunchContext.release(dob, dOut);
        }
    }
}
