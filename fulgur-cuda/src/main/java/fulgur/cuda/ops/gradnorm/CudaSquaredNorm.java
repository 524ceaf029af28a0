package fulgur.cuda.ops.gradnorm;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.Gpu;
import fulgur.ops.gradnorm.SquaredNormKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.List;

/**
 * The CUDA {@link SquaredNormKernels}: per tensor one launch of {@code t_sumsq_partial} (tensor.cu) that reads it once
 * in its own dtype and leaves one f64 partial per block, then one sum over all partials. The composed form it replaces
 * wrote an f64 copy and its square of every gradient (16 bytes per element) before summing.
 */
public final class CudaSquaredNorm implements SquaredNormKernels {
    private static final String TENSOR = "tensor.cu";
    /** Blocks per tensor at most: a fixed grid, so the partials (and the sum's bits) depend only on the sizes. */
    static final int MAX_BLOCKS = 1024;

    private final Gpu g;

    public CudaSquaredNorm(Gpu g) {
        this.g = g;
    }

    public static CudaSquaredNorm on(Device device) {
        return new CudaSquaredNorm(CudaBackend.of(device).gpu());
    }

    @Override
    public Tensor sumOfSquares(List<Tensor> tensors) {
        String op = "sum of squares";
        g.bind();
        int[] blocks = new int[tensors.size()];
        long total = 0;
        for (int i = 0; i < blocks.length; i++) {
            Tensor t = tensors.get(i);
            g.check(op, t);
            blocks[i] = (int) Math.max(1, Math.min(MAX_BLOCKS, (t.numel() + Gpu.THREADS - 1) / Gpu.THREADS));
            total += blocks[i];
        }
        Tensor part = g.alloc(DType.F64, new int[] {Math.toIntExact(total)});
        long at = 0;
        for (int i = 0; i < blocks.length; i++) {
            Tensor t = tensors.get(i);
            Tensor x = g.contiguous(op, t);
            g.kernel(TENSOR, "t_sumsq_partial")
                    .launch(
                            g.stream,
                            blocks[i],
                            1,
                            1,
                            Gpu.THREADS,
                            0,
                            g.ptr(x, op),
                            Gpu.code(x.dtype()),
                            x.numel(),
                            g.ptr(part, op).plus(8 * at));
            Gpu.freeTemp(x, t);
            at += blocks[i];
        }
        Tensor sum = part.sum();
        part.close();
        return sum;
    }
}
