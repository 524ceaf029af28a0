package fulgur.cuda.ops.lightnet;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.LaunchContext;
import fulgur.cuda.ops.Packed;
import fulgur.cuda.ops.gla.GlaLauncher;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link LightNetKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}) on {@link LightNetLauncher}:
 * LightNet's scans around gated linear attention, with fulgur's LightNet scale 1 (a model that scales q does so before
 * the op). bf16 q, k, v with key head dims up to 128 run on the tensor-core GLA kernels, f32 (and mixed) inputs on the
 * exact f32 ones. The packed result is the output alone (q's dtype) without a final state, else f32 output, S and z.
 */
public final class CudaLightNet implements LightNetKernels {
    private final LaunchContext lc;
    private final LightNetLauncher launcher;

    public CudaLightNet(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.launcher = new LightNetLauncher(DeviceTensors.of(backend));
    }

    public static CudaLightNet on(Device device) {
        return new CudaLightNet(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor q, Tensor k, Tensor v) {
        return accepts(q, k, v);
    }

    /** Whether the kernels take these arguments (metadata only: no device needed). */
    public static boolean accepts(Tensor q, Tensor k, Tensor v) {
        String what = q.dtype() + " q, dk " + q.size(3) + ", dv " + v.size(3);
        for (Tensor t : new Tensor[] {q, k, v}) {
            if (!t.dtype().isFloating() || t.dtype() == DType.F64)
                return KernelChoice.note("lightnet", false, "the kernels take bf16, f16 or f32, got " + what);
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
                    "lightnet", false, "sizes outside the kernels' (dk ≤ " + GlaLauncher.MAX_K + "): " + q.describe());
        return KernelChoice.note(
                "lightnet",
                true,
                GlaLauncher.tensorCores(computeType(q, k, v), q.size(3), v.size(3))
                        ? "scans + GLA on tensor cores (" + what + ")"
                        : "scans + exact f32 GLA (" + what + ")");
    }

    private static DType computeType(Tensor q, Tensor k, Tensor v) {
        return q.dtype() == DType.BF16 && k.dtype() == DType.BF16 && v.dtype() == DType.BF16 ? DType.BF16 : DType.F32;
    }

    @Override
    public Tensor forward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, boolean wantFinal) {
        DType c = computeType(q, k, v);
        Tensor qd = lc.dense(q, c),
                kd = lc.dense(k, c),
                vd = lc.dense(v, c),
                sd = lc.dense(s0, DType.F32),
                zd = lc.dense(z0, DType.F32);
        LightNetLauncher.Output r;
        try {
            r = launcher.forward(qd, kd, vd, sd, zd, 1.0, wantFinal, null);
        } finally {
            release(qd, q, kd, k, vd, v, sd, s0, zd, z0);
        }
        return wantFinal ? Packed.of(lc, r.output(), r.finalS(), r.finalZ()) : Packed.flat(r.output());
    }

    @Override
    public Tensor[] backward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, boolean wantFinal, Tensor packedGrad) {
        DType c = computeType(q, k, v);
        int b = q.size(0), h = q.size(2), dk = q.size(3), dv = v.size(3);
        int[][] shapes = {
            {b, q.size(1), h, dv}, wantFinal ? new int[] {b, h, dk, dv} : null, wantFinal ? new int[] {b, h, dk} : null
        };
        Packed.Parts grads = Packed.split(lc, packedGrad, shapes, new DType[] {c, DType.F32, DType.F32});
        Tensor qd = lc.dense(q, c),
                kd = lc.dense(k, c),
                vd = lc.dense(v, c),
                sd = lc.dense(s0, DType.F32),
                zd = lc.dense(z0, DType.F32);
        try {
            LightNetLauncher.Gradients d =
                    launcher.backward(qd, kd, vd, sd, zd, 1.0, null, grads.part(0), grads.part(1), grads.part(2));
            return new Tensor[] {d.dq(), d.dk(), d.dv(), d.ds0(), d.dz0()};
        } finally {
            release(qd, q, kd, k, vd, v, sd, s0, zd, z0);
            grads.close();
        }
    }

    private static void release(Tensor... pairs) {
        for (int i = 0; i < pairs.length; i += 2) LaunchContext.release(pairs[i], pairs[i + 1]);
    }
}
