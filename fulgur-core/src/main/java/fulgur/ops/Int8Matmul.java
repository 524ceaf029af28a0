package fulgur.ops;

import fulgur.backend.Backends;
import fulgur.backend.Kernels;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * The int8 matrix product behind weight-only quantized linear layers: the device's {@link Int8MatmulKernels}, else
 * a composed form that widens {@value #BLOCK_ROWS} weight rows at a time (so f32 copies of the weights stay small).
 */
public final class Int8Matmul {
    /** Weight rows widened to f32 at once by the composed form. */
    static final int BLOCK_ROWS = 256;

    private Int8Matmul() {}

    /** x [M, K] f32 contiguous, q [N, K] i8, scale [N] f32 (validated by the caller) → [M, N] f32. */
    public static Tensor apply(Tensor x, Tensor q, Tensor scale) {
        Int8MatmulKernels k = Kernels.find(Int8MatmulKernels.class, x.device());
        return k != null ? k.matmul(x, q, scale) : composed(x, q, scale);
    }

    static Tensor composed(Tensor x, Tensor q, Tensor scale) {
        int n = q.size(0);
        Tensor y = Backends.of(x).empty(DType.F32, new int[] {x.size(0), n});
        for (int r = 0; r < n; r += BLOCK_ROWS) {
            int rows = Math.min(BLOCK_ROWS, n - r);
            Tensor w = Elementwise.mul(
                    Views.narrow(q, 0, r, rows).to(DType.F32), Views.unsqueeze(Views.narrow(scale, 0, r, rows), 1));
            Backends.of(x).copy(LinearAlgebra.matmul(x, w, false, true), Views.narrow(y, 1, r, rows));
        }
        return y;
    }
}
