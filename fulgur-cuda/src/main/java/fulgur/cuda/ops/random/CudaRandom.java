package fulgur.cuda.ops.random;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.Gpu;
import fulgur.ops.RandomKernels;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/** The CUDA {@link RandomKernels}: the counter-based normal of {@code fulgur.tensor.Rng}, one grid-stride kernel (tensor.cu). */
public final class CudaRandom implements RandomKernels {
    private final Gpu g;

    public CudaRandom(Gpu g) {
        this.g = g;
    }

    public static CudaRandom on(Device device) {
        return new CudaRandom(CudaBackend.of(device).gpu());
    }

    @Override
    public void normal(Tensor t, long stream, double mean, double std) {
        String op = "normal";
        g.check(op, t);
        if (!t.isContiguous())
            throw new IllegalArgumentException(op + ": expected a contiguous tensor, got " + t.describe());
        g.bind();
        long n = t.numel();
        g.launch(g.kernel("tensor.cu", "t_fill_normal"), n, g.ptr(t, op), Gpu.code(t.dtype()), n, stream, mean, std);
    }
}
