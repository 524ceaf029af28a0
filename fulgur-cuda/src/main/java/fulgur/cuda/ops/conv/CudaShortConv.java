package fulgur.cuda.ops.conv;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.LaunchContext;
import fulgur.ops.conv.ShortConvKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link ShortConvKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}) on {@link ShortConvLauncher}:
 * x f32 or bf16, weight and bias f32 or bf16, kernel sizes up to {@value ShortConvLauncher#MAX_KERNEL}; a tail is
 * converted to x's dtype, operands that are not contiguous and aligned are copied first.
 */
public final class CudaShortConv implements ShortConvKernels {
    private final LaunchContext lc;
    private final ShortConvLauncher launcher;

    public CudaShortConv(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.launcher = new ShortConvLauncher(DeviceTensors.of(backend));
    }

    public static CudaShortConv on(Device device) {
        return new CudaShortConv(CudaBackend.of(device));
    }

    static boolean ok(DType t) {
        return t == DType.F32 || t == DType.BF16;
    }

    @Override
    public boolean supports(Tensor x, Tensor weight) {
        return accepts(x, weight);
    }

    /** Whether the kernels take these arguments (metadata only: no device needed). */
    public static boolean accepts(Tensor x, Tensor weight) {
        boolean fits = ok(x.dtype())
                && ok(weight.dtype())
                && weight.size(1) <= ShortConvLauncher.MAX_KERNEL
                && x.size(0) > 0
                && x.size(1) > 0
                && x.size(2) > 0;
        return KernelChoice.note(
                "short convolution",
                fits,
                (fits ? "" : "outside the kernel's (f32/bf16, size ≤ " + ShortConvLauncher.MAX_KERNEL + "): ")
                        + x.dtype() + " x, " + weight.dtype() + " weight, size " + weight.size(1));
    }

    @Override
    public Tensor forward(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu) {
        Tensor xd = lc.dense(x, x.dtype()),
                wd = lc.dense(weight, weight.dtype()),
                bd = lc.dense(bias, weight.dtype()),
                td = lc.dense(tail, x.dtype());
        try {
            return launcher.forward(xd, wd, bd, silu, td, false, null).y();
        } finally {
            release(xd, x, wd, weight, bd, bias, td, tail);
        }
    }

    @Override
    public Tensor[] backward(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu, Tensor dy) {
        Tensor xd = lc.dense(x, x.dtype()),
                wd = lc.dense(weight, weight.dtype()),
                bd = lc.dense(bias, weight.dtype()),
                td = lc.dense(tail, x.dtype());
        Tensor dyd = lc.dense(dy, x.dtype());
        try {
            ShortConvLauncher.Gradients g = launcher.backward(xd, wd, bd, silu, td, null, dyd, null);
            Tensor dTail = g.dInitialTail();
            if (dTail != null && tail.dtype() != dTail.dtype()) {
                Tensor c = lc.empty(tail.dtype(), tail.shape());
                lc.backend().copy(dTail, c);
                dTail.close();
                dTail = c;
            }
            return new Tensor[] {g.dx(), g.dWeight(), g.dBias(), dTail};
        } finally {
            release(xd, x, wd, weight, bd, bias, td, tail, dyd, dy);
        }
    }

    @Override
    public Tensor decode(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu) {
        if (tail == null) return forward(x, weight, bias, null, silu); // kernel size 1: nothing to carry
        Tensor xd = lc.dense(x, x.dtype()),
                wd = lc.dense(weight, weight.dtype()),
                bd = lc.dense(bias, weight.dtype()),
                td = lc.dense(tail, x.dtype());
        try {
            return launcher.step(xd, wd, bd, silu, td);
        } finally {
            if (td != tail) tail.copyFrom(td);
            release(xd, x, wd, weight, bd, bias, td, tail);
        }
    }

    private static void release(Tensor... pairs) {
        for (int i = 0; i < pairs.length; i += 2) LaunchContext.release(pairs[i], pairs[i + 1]);
    }
}
