package fulgur.cuda.ops.lcsm;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.LaunchContext;
import fulgur.cuda.ops.Packed;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link LcsmKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}) on {@link LcsmLauncher}: f32 or
 * bf16 inputs (e, logO, s as strided or broadcast views, read in place), expand dims up to {@value LcsmLauncher#MAX_EXPAND}.
 * The scan writes y and m_T straight into the packed result.
 */
public final class CudaLcsm implements LcsmKernels {
    private final LaunchContext lc;
    private final LcsmLauncher launcher;

    public CudaLcsm(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.launcher = new LcsmLauncher(DeviceTensors.of(backend));
    }

    public static CudaLcsm on(Device device) {
        return new CudaLcsm(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor i, Tensor e, Tensor logO, Tensor s) {
        return accepts(i, e);
    }

    /** Whether the scan takes these arguments (metadata only: no device needed). */
    public static boolean accepts(Tensor i, Tensor e) {
        if (i.dtype() != DType.F32 && i.dtype() != DType.BF16)
            return KernelChoice.note("lcsm", false, "the scan takes f32 or bf16, got " + i.describe());
        int b = i.size(0), t = i.size(1), d = i.size(2), k = e.size(2);
        boolean fits = b >= 1
                && b <= 65535
                && t >= 1
                && (long) t <= 65535L * LcsmLauncher.CHUNK
                && d >= 1
                && k >= 1
                && k <= LcsmLauncher.MAX_EXPAND;
        return KernelChoice.note(
                "lcsm",
                fits,
                fits
                        ? "chunked scan (" + i.dtype() + ", k " + k + ", d " + d + ")"
                        : "sizes outside the scan's (k ≤ " + LcsmLauncher.MAX_EXPAND + "): " + e.describe());
    }

    @Override
    public Tensor forward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        int b = i.size(0), t = i.size(1), d = i.size(2), k = e.size(2);
        long ny = (long) b * t * d;
        Tensor packed = lc.empty(i.dtype(), Shape.toInt("lcsm.scan", ny + (long) b * k * d));
        Tensor md = lc.dense(m0, i.dtype());
        try {
            launcher.forwardInto(
                    i, e, logO, s, md, Packed.view(packed, 0, new int[] {b, t, d}), Packed.view(packed, ny, new int[] {
                        b, k, d
                    }));
        } finally {
            LaunchContext.release(md, m0);
        }
        return packed;
    }

    @Override
    public Tensor[] backward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor packedGrad) {
        int b = i.size(0), t = i.size(1), d = i.size(2), k = e.size(2);
        Packed.Parts grads =
                Packed.split(lc, packedGrad, new int[][] {{b, t, d}, {b, k, d}}, new DType[] {i.dtype(), i.dtype()});
        Tensor md = lc.dense(m0, i.dtype());
        try {
            LcsmLauncher.Gradients g = launcher.backward(i, e, logO, s, md, grads.part(0), grads.part(1));
            return new Tensor[] {g.di(), g.de(), g.dlogO(), g.ds(), g.dm0()};
        } finally {
            LaunchContext.release(md, m0);
            grads.close();
        }
    }
}
