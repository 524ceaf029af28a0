package fulgur.cuda.ops.norm;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaNn;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.ops.KernelChoice;
import fulgur.ops.ResidualNormKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link ResidualNormKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): the residual sum and the
 * next RMSNorm in one warp-per-row pass ({@code nn_add_rmsnorm_w_*} in nn.cu, the backend's RMSNorm kernel reading a
 * second row and writing the rounded sum), for f32 and bf16 rows that the warp-per-row norm takes.
 */
public final class CudaResidualNorm implements ResidualNormKernels {
    private final Gpu g;

    public CudaResidualNorm(Gpu g) {
        this.g = g;
    }

    public static CudaResidualNorm on(Device device) {
        return new CudaResidualNorm(CudaBackend.of(device).gpu());
    }

    @Override
    public boolean supports(Tensor x, Tensor y, Tensor gain) {
        boolean ok = CudaNn.addRmsNormVectors(g, x, y, gain) > 0;
        return KernelChoice.note(
                "residual rmsnorm",
                ok,
                ok ? "one pass (" + x.dtype() + ")" : "not contiguous f32/bf16 rows of 512-4096 bytes: sum, then norm");
    }

    @Override
    public Tensor[] forward(Tensor x, Tensor y, Tensor gain, double eps) {
        g.bind();
        return CudaNn.addRmsNorm(g, x, y, gain, eps);
    }
}
