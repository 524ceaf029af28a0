package fulgur.cuda.ops.matmul;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaMatmul;
import fulgur.ops.MatmulIntoKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link MatmulIntoKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): one cuBLASLt product with
 * C as its output and beta as given ({@link CudaMatmul#matmulInto}), or with the addend as cuBLASLt's C and a new
 * tensor as its D ({@link CudaMatmul#matmulPlus}).
 */
public final class CudaMatmulInto implements MatmulIntoKernels {
    private final CudaBackend be;

    public CudaMatmulInto(CudaBackend be) {
        this.be = be;
    }

    public static CudaMatmulInto on(Device device) {
        return new CudaMatmulInto(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor a, Tensor b, Tensor c) {
        return CudaMatmul.supportsInto(be.gpu(), a, b, c);
    }

    @Override
    public void matmulInto(Tensor a, Tensor b, boolean transA, boolean transB, Tensor c, double beta) {
        be.matmulInto(a, b, transA, transB, c, beta);
    }

    @Override
    public Tensor matmulPlus(Tensor a, Tensor b, boolean transA, boolean transB, Tensor addend) {
        return be.matmulPlus(a, b, transA, transB, addend);
    }
}
