package fulgur.cuda.ops.glu;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaElementwise;
import fulgur.cuda.backend.CudaNn;
import fulgur.cuda.backend.Gpu;
import fulgur.ops.GluKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link GluKernels}: silu(gate)·up and its backward, one elementwise kernel each (nn.cu), and a product's
 * backward in one pass ({@code t_mul_bwd_c} in tensor.cu).
 */
public final class CudaGlu implements GluKernels {
    private final Gpu g;

    public CudaGlu(Gpu g) {
        this.g = g;
    }

    public static CudaGlu on(Device device) {
        return new CudaGlu(CudaBackend.of(device).gpu());
    }

    @Override
    public Tensor siluMul(Tensor gate, Tensor up) {
        fulgur.cuda.ops.KernelChoice.note("glu", true, "silu(gate)·up in one pass (" + gate.dtype() + ")");
        return CudaNn.siluMul(g, gate, up);
    }

    @Override
    public Tensor[] siluMulBackward(Tensor gate, Tensor up, Tensor dy) {
        return CudaNn.siluMulBackward(g, gate, up, dy);
    }

    @Override
    public Tensor[] mulBackward(Tensor a, Tensor b, Tensor dy) {
        return CudaElementwise.mulBackward(g, a, b, dy);
    }
}
