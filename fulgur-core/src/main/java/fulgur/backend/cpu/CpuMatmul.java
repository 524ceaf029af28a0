package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * Batched matrix products on top of {@link Gemm}: matrices that are row-major or transposed in memory are passed as
 * they are (flipping the transpose flag), others are made contiguous; broadcast batch dimensions become stride 0.
 */
final class CpuMatmul {
    private CpuMatmul() {}

    static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB, DType outDtype) {
        String op = "matmul";
        CpuSupport.checkCpu(op, a);
        CpuSupport.checkCpu(op, b);
        if (a.ndim() < 2 || b.ndim() < 2) {
            throw new IllegalArgumentException(
                    op + ": expected tensors of at least 2 dimensions, got " + a.describe() + " and " + b.describe());
        }
        CpuSupport.checkFloating(op, a);
        CpuSupport.checkFloating(op, b);
        int m = transA ? a.size(-1) : a.size(-2);
        int ka = transA ? a.size(-2) : a.size(-1);
        int kb = transB ? b.size(-1) : b.size(-2);
        int n = transB ? b.size(-2) : b.size(-1);
        if (ka != kb) {
            throw new IllegalArgumentException(op + ": inner dimensions differ: " + a.describe() + (transA ? "ᵀ" : "")
                    + " · " + b.describe() + (transB ? "ᵀ" : "") + " (" + ka + " vs " + kb + ")");
        }
        int k = ka;
        int[] aBatch = java.util.Arrays.copyOf(a.shape(), a.ndim() - 2);
        int[] bBatch = java.util.Arrays.copyOf(b.shape(), b.ndim() - 2);
        int[] batchShape = Shape.broadcast(op, aBatch, bBatch);
        DType mt = a.dtype() == DType.F64 || b.dtype() == DType.F64 ? DType.F64 : DType.F32;
        DType rt = outDtype != null
                ? outDtype
                : (a.dtype() == b.dtype() ? a.dtype() : CpuSupport.promote(a.dtype(), b.dtype()));
        Operand pa = Operand.of(a, mt, transA);
        Operand pb = Operand.of(b, mt, transB);
        int[] outShape = Shape.concat(batchShape, m, n);
        Tensor out = CpuSupport.alloc(mt, outShape);
        long batch = Shape.numel(batchShape);
        if (batch == 0 || m == 0 || n == 0) {
            return CpuSupport.convert(out, rt);
        }
        MemorySegment c = out.hostSegment(op);
        long[] sa = batchStrides(pa.t, batchShape);
        long[] sb = batchStrides(pb.t, batchShape);
        long[] sc = Shape.contiguousStrides(batchShape);
        long mn = (long) m * n;
        // One uniform stride per operand lets a single batched call cover everything.
        long[] ua = uniformStride(batchShape, sa);
        long[] ub = uniformStride(batchShape, sb);
        if (ua != null && ub != null) {
            gemm(mt, pa, pb, Shape.toInt(op, batch), m, n, k, pa.t.offset(), ua[0], pb.t.offset(), ub[0], c, 0, mn);
        } else {
            for (long p = 0; p < batch; p++) {
                long oa = pa.t.offset();
                long ob = pb.t.offset();
                long rem = p;
                for (int i = batchShape.length - 1; i >= 0; i--) {
                    long idx = rem % batchShape[i];
                    rem /= batchShape[i];
                    oa += idx * sa[i];
                    ob += idx * sb[i];
                }
                gemm(mt, pa, pb, 1, m, n, k, oa, 0, ob, 0, c, p * mn, 0);
            }
        }
        return CpuSupport.convert(out, rt);
    }

    private static void gemm(
            DType mt,
            Operand pa,
            Operand pb,
            int batch,
            int m,
            int n,
            int k,
            long aOff,
            long strideA,
            long bOff,
            long strideB,
            MemorySegment c,
            long cOff,
            long strideC) {
        MemorySegment as = pa.t.hostSegment("matmul");
        MemorySegment bs = pb.t.hostSegment("matmul");
        if (mt == DType.F32) {
            Gemm.sgemmBatched(
                    pa.trans, pb.trans, batch, m, n, k, 1f, as, aOff, pa.ld, strideA, bs, bOff, pb.ld, strideB, 0f, c,
                    cOff, n, strideC);
        } else {
            Gemm.dgemmBatched(
                    pa.trans, pb.trans, batch, m, n, k, 1.0, as, aOff, pa.ld, strideA, bs, bOff, pb.ld, strideB, 0.0, c,
                    cOff, n, strideC);
        }
    }

    /** A matrix operand as Gemm sees it: storage layout flag and leading dimension. */
    private record Operand(Tensor t, boolean trans, int ld) {
        static Operand of(Tensor x, DType mt, boolean trans) {
            Tensor t = x.dtype() == mt ? x : CpuSupport.contiguousAs(x, mt);
            long r = t.stride(-2);
            long c = t.stride(-1);
            int rows = t.size(-2);
            int cols = t.size(-1);
            if ((c == 1 || cols == 1) && r >= Math.max(1, cols) && r <= Integer.MAX_VALUE) {
                return new Operand(t, trans, (int) Math.max(r, 1));
            }
            if ((r == 1 || rows == 1) && c >= Math.max(1, rows) && c <= Integer.MAX_VALUE) {
                return new Operand(t, !trans, (int) Math.max(c, 1));
            }
            Tensor cont = CpuSupport.alloc(mt, t.shape());
            CpuCopy.copy(t, cont);
            return new Operand(cont, trans, Math.max(1, cols));
        }
    }

    /** Per-batch-dimension strides of t broadcast to batchShape (0 where broadcast). */
    private static long[] batchStrides(Tensor t, int[] batchShape) {
        int nb = t.ndim() - 2;
        int[] ts = t.shape();
        long[] st = t.strides();
        long[] r = new long[batchShape.length];
        int lead = batchShape.length - nb;
        for (int i = 0; i < nb; i++) {
            r[lead + i] = ts[i] == 1 ? 0 : st[i];
        }
        return r;
    }

    /** The single stride that walks all batch entries in order, or null when there is none. */
    private static long[] uniformStride(int[] batchShape, long[] strides) {
        long stride = -1;
        long expectedNext = -1;
        for (int i = batchShape.length - 1; i >= 0; i--) {
            if (batchShape[i] == 1) {
                continue;
            }
            if (stride < 0) {
                stride = strides[i];
                expectedNext = strides[i] * batchShape[i];
            } else if (strides[i] == expectedNext) {
                expectedNext = strides[i] * batchShape[i];
            } else {
                return null;
            }
        }
        return new long[] {Math.max(stride, 0)};
    }
}
