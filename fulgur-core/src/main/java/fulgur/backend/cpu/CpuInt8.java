package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/** Weight-only int8 matrix products on the CPU ({@link GemmInt8}), for the quantization op family's CPU kernel. */
public final class CpuInt8 {
    private CpuInt8() {}

    /** x [M, K] f32 · (diag(scale)·q)ᵀ, q [N, K] i8, scale [N] f32, all contiguous → [M, N] f32. */
    public static Tensor matmul(Tensor x, Tensor q, Tensor scale) {
        String op = "matmulInt8";
        CpuSupport.checkCpu(op, x);
        CpuSupport.checkCpu(op, q);
        CpuSupport.checkCpu(op, scale);
        int m = x.size(0), k = x.size(1), n = q.size(0);
        Tensor y = CpuSupport.alloc(DType.F32, new int[] {m, n});
        GemmInt8.gemm(
                m,
                n,
                k,
                x.hostSegment(op),
                x.offset(),
                q.hostSegment(op),
                q.offset(),
                scale.hostSegment(op),
                scale.offset(),
                y.hostSegment(op));
        return y;
    }
}
