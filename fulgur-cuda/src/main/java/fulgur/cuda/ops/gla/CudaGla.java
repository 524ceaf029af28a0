package fulgur.cuda.ops.gla;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.LaunchContext;
import fulgur.cuda.ops.Packed;
import fulgur.ops.gla.GlaKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link GlaKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}) on {@link GlaLauncher}: bf16 q, k,
 * v with key head dims up to 128 run on the tensor-core kernels, f32 (and mixed, f16) inputs on the exact f32 kernels;
 * g in bf16 or f32. Inputs that are not contiguous and aligned are copied first. The packed result is the output alone
 * (q's dtype for bf16 or f32 inputs) without a final state, else f32 output and state.
 */
public final class CudaGla implements GlaKernels {
    private final LaunchContext lc;
    private final GlaLauncher gla;

    public CudaGla(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.gla = new GlaLauncher(DeviceTensors.of(backend));
    }

    public static CudaGla on(Device device) {
        return new CudaGla(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor q, Tensor k, Tensor v, Tensor g) {
        return accepts(q, k, v, g);
    }

    /** Whether the kernels take these arguments (metadata only: no device needed). */
    public static boolean accepts(Tensor q, Tensor k, Tensor v, Tensor g) {
        String what = q.dtype() + " q, " + g.dtype() + " g, dk " + q.size(3) + ", dv " + v.size(3);
        for (Tensor t : new Tensor[] {q, k, v, g}) {
            if (!t.dtype().isFloating() || t.dtype() == DType.F64)
                return KernelChoice.note("gla", false, "the kernels take bf16, f16 or f32, got " + what);
        }
        boolean fits = q.size(0) > 0
                && q.size(1) > 0
                && q.size(2) > 0
                && q.size(2) <= 65535
                && q.size(3) > 0
                && q.size(3) <= GlaLauncher.MAX_K
                && v.size(3) > 0;
        if (!fits)
            return KernelChoice.note(
                    "gla", false, "sizes outside the kernels' (dk ≤ " + GlaLauncher.MAX_K + "): " + q.describe());
        return KernelChoice.note(
                "gla",
                true,
                GlaLauncher.tensorCores(computeType(q, k, v), q.size(3), v.size(3))
                        ? "on tensor cores (" + what + ")"
                        : "exact f32 (" + what + ")");
    }

    /** bf16 when q, k and v all are (the tensor-core kernels), f32 otherwise. */
    static DType computeType(Tensor q, Tensor k, Tensor v) {
        return q.dtype() == DType.BF16 && k.dtype() == DType.BF16 && v.dtype() == DType.BF16 ? DType.BF16 : DType.F32;
    }

    static DType decayType(Tensor g) {
        return g.dtype() == DType.BF16 ? DType.BF16 : DType.F32;
    }

    @Override
    public Tensor forward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int[] cuSeqlens) {
        DType c = computeType(q, k, v);
        Tensor qd = lc.dense(q, c), kd = lc.dense(k, c), vd = lc.dense(v, c), gd = lc.dense(g, decayType(g));
        Tensor s0 = lc.dense(initialState, DType.F32);
        GlaLauncher.Output r;
        try {
            r = gla.forward(qd, kd, vd, gd, scale, s0, wantFinalState, cuSeqlens);
        } finally {
            release(qd, q, kd, k, vd, v, gd, g, s0, initialState);
        }
        return wantFinalState ? Packed.of(lc, r.output(), r.finalState()) : Packed.flat(r.output());
    }

    @Override
    public Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int[] cuSeqlens,
            Tensor packedGrad) {
        DType c = computeType(q, k, v);
        int[] oShape = {q.size(0), q.size(1), q.size(2), v.size(3)};
        int n = cuSeqlens == null ? q.size(0) : cuSeqlens.length - 1;
        Packed.Parts grads = Packed.split(
                lc,
                packedGrad,
                new int[][] {oShape, wantFinalState ? new int[] {n, q.size(2), q.size(3), v.size(3)} : null},
                new DType[] {c, DType.F32});
        Tensor qd = lc.dense(q, c), kd = lc.dense(k, c), vd = lc.dense(v, c), gd = lc.dense(g, decayType(g));
        Tensor s0 = lc.dense(initialState, DType.F32);
        try {
            GlaLauncher.Gradients d = gla.backward(qd, kd, vd, gd, scale, s0, cuSeqlens, grads.part(0), grads.part(1));
            return new Tensor[] {d.dq(), d.dk(), d.dv(), d.dg(), d.dInitialState()};
        } finally {
            release(qd, q, kd, k, vd, v, gd, g, s0, initialState);
            grads.close();
        }
    }

    @Override
    public Tensor recurrent(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor state) {
        DType c = computeType(q, k, v);
        Tensor qd = lc.dense(q, c), kd = lc.dense(k, c), vd = lc.dense(v, c), gd = lc.dense(g, decayType(g));
        Tensor s = lc.dense(state, DType.F32);
        try {
            return gla.decode(qd, kd, vd, gd, scale, s);
        } finally {
            if (s != state) state.copyFrom(s);
            release(qd, q, kd, k, vd, v, gd, g, s, state);
        }
    }

    /** Releases pairs (temporary, original). */
    static void release(Tensor... pairs) {
        for (int i = 0; i < pairs.length; i += 2) LaunchContext.release(pairs[i], pairs[i + 1]);
    }
}
