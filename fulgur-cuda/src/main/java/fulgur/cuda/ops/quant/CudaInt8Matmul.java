package fulgur.cuda.ops.quant;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaNn;
import fulgur.cuda.backend.Gpu;
import fulgur.ops.Int8MatmulKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/** The CUDA {@link Int8MatmulKernels}: nn.cu's int8 kernels (a warp per channel when decoding, widened tiles for prefill). */
public final class CudaInt8Matmul implements Int8MatmulKernels {
    private final Gpu g;

    public CudaInt8Matmul(Gpu g) {
        this.g = g;
    }

    public static CudaInt8Matmul on(Device device) {
        return new CudaInt8Matmul(CudaBackend.of(device).gpu());
    }

    @Override
    public Tensor matmul(Tensor x, Tensor q, Tensor scale) {
        return CudaNn.matmulInt8(g, x, q, scale);
    }
}
