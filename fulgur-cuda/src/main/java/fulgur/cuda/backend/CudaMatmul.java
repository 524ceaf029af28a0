package fulgur.cuda.backend;

import fulgur.cuda.cublas.BatchedGemm;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/**
 * Batched matrix products through cuBLASLt. Operands that are row-major or transposed in memory are passed as they
 * are (a transposed view becomes a transpose flag), others are made contiguous; broadcast batch dimensions become
 * batch stride 0; batch dimensions without one uniform stride run one product per batch entry.
 *
 * <p>Precision: bf16 and f16 operands run on tensor cores with f32 accumulation (result rounded once to the output
 * dtype); f64 in f64; f32 in full f32 by default, or in TF32 on tensor cores when {@code allowTf32} is set (about
 * 1e-3 relative error instead of 1e-6, several times the speed).
 */
public final class CudaMatmul {
    private CudaMatmul() {}

    private record Operand(Tensor t, boolean trans, long ld) {}

    private static Operand operand(Gpu g, Tensor x, DType ct, boolean trans) {
        Tensor t = x.dtype() == ct ? x : g.contiguousAs("matmul", x, ct);
        long r = t.stride(-2);
        long c = t.stride(-1);
        int rows = t.size(-2);
        int cols = t.size(-1);
        if ((c == 1 || cols == 1) && r >= Math.max(1, cols)) return new Operand(t, trans, Math.max(r, 1));
        if ((r == 1 || rows == 1) && c >= Math.max(1, rows)) return new Operand(t, !trans, Math.max(c, 1));
        Tensor cont = g.alloc(ct, t.shape());
        CudaCopy.deviceCopy(g, t, cont);
        Gpu.freeTemp(t, x);
        return new Operand(cont, trans, Math.max(1, cols));
    }

    private static long[] batchStrides(Tensor t, int[] batchShape) {
        int nb = t.ndim() - 2;
        int[] ts = t.shape();
        long[] st = t.strides();
        long[] r = new long[batchShape.length];
        int lead = batchShape.length - nb;
        for (int i = 0; i < nb; i++) r[lead + i] = ts[i] == 1 ? 0 : st[i];
        return r;
    }

    /** The single stride that walks all batch entries in order, or -1 when there is none. */
    private static long uniformStride(int[] batchShape, long[] strides) {
        long stride = -1;
        long expectedNext = -1;
        for (int i = batchShape.length - 1; i >= 0; i--) {
            if (batchShape[i] == 1) continue;
            if (stride < 0) {
                stride = strides[i];
                expectedNext = strides[i] * batchShape[i];
            } else if (strides[i] == expectedNext) {
                expectedNext = strides[i] * batchShape[i];
            } else {
                return -1;
            }
        }
        return Math.max(stride, 0);
    }

    /** The product's types for operands of dtype {@code in} written as {@code out}, or null when there are none. */
    private static BatchedGemm.Types intoTypes(DType in, DType out, boolean allowTf32) {
        return switch (in) {
            case BF16 ->
                out == DType.BF16 ? BatchedGemm.Types.BF16 : out == DType.F32 ? BatchedGemm.Types.BF16_F32 : null;
            case F16 -> out == DType.F16 ? BatchedGemm.Types.F16 : out == DType.F32 ? BatchedGemm.Types.F16_F32 : null;
            case F32 -> out == DType.F32 ? (allowTf32 ? BatchedGemm.Types.TF32 : BatchedGemm.Types.F32) : null;
            case F64 -> out == DType.F64 ? BatchedGemm.Types.F64 : null;
            default -> null;
        };
    }

    /** Whether {@link #matmulInto} takes these operands (see {@code MatmulIntoKernels#supports}). */
    public static boolean supportsInto(Gpu g, Tensor a, Tensor b, Tensor c) {
        return a.ndim() == 2
                && b.ndim() == 2
                && c.ndim() == 2
                && a.dtype() == b.dtype()
                && intoTypes(a.dtype(), c.dtype(), false) != null
                && c.stride(1) == 1
                && c.stride(0) >= c.size(1)
                && b.device().equals(a.device())
                && c.device().equals(a.device());
    }

    /** {m, n, k} of op(a)·op(b) when it is written as {@code c}'s shape, or null when the shapes do not fit. */
    private static int[] productDims(Tensor a, Tensor b, boolean transA, boolean transB, Tensor c) {
        int m = transA ? a.size(1) : a.size(0);
        int k = transA ? a.size(0) : a.size(1);
        int kb = transB ? b.size(1) : b.size(0);
        int n = transB ? b.size(0) : b.size(1);
        return k == kb && c.size(0) == m && c.size(1) == n ? new int[] {m, n, k} : null;
    }

    /** D ← op(a)·op(b) + beta·S in one product, D {@code out} with rows {@code ldc} apart, S at {@code source}. */
    private static void product(
            Gpu g,
            BatchedGemm gemm,
            boolean allowTf32,
            String op,
            Tensor a,
            Tensor b,
            boolean transA,
            boolean transB,
            int[] mnk,
            Tensor out,
            long ldc,
            double beta,
            Tensor source) {
        Operand pa = operand(g, a, a.dtype(), transA);
        Operand pb = operand(g, b, b.dtype(), transB);
        gemm.matmul(
                intoTypes(a.dtype(), out.dtype(), allowTf32),
                pa.trans,
                pb.trans,
                mnk[0],
                mnk[1],
                mnk[2],
                g.ptr(pa.t, op).address(),
                pa.ld,
                0,
                g.ptr(pb.t, op).address(),
                pb.ld,
                0,
                g.ptr(out, op).address(),
                ldc,
                0,
                1,
                beta,
                g.ptr(source, op).address());
        Gpu.freeTemp(pa.t, a);
        Gpu.freeTemp(pb.t, b);
    }

    /** c ← op(a)·op(b) + beta·c in one product (operands as {@link #supportsInto} takes). */
    public static void matmulInto(
            Gpu g,
            BatchedGemm gemm,
            boolean allowTf32,
            Tensor a,
            Tensor b,
            boolean transA,
            boolean transB,
            Tensor c,
            double beta) {
        String op = "matmulInto";
        g.check(op, a);
        g.check(op, b);
        g.check(op, c);
        int[] mnk = supportsInto(g, a, b, c) ? productDims(a, b, transA, transB, c) : null;
        if (mnk == null) {
            throw new IllegalArgumentException(op + ": " + a.describe() + (transA ? "ᵀ" : "") + " · " + b.describe()
                    + (transB ? "ᵀ" : "") + " cannot be written into " + c.describe());
        }
        g.bind();
        if (mnk[0] == 0 || mnk[1] == 0) return;
        if (mnk[2] == 0) {
            if (beta == 0) CudaCopy.fill(g, c, 0);
            else if (beta != 1) throw new IllegalArgumentException(op + ": an empty product scales c by " + beta);
            return;
        }
        product(g, gemm, allowTf32, op, a, b, transA, transB, mnk, c, c.stride(0), beta, c);
    }

    /**
     * A new tensor op(a)·op(b) + addend in one product (2-D operands as {@link #supportsInto} takes; the addend
     * contiguous, of the product's shape, in the dtype of the result); null when these operands are not taken.
     */
    public static Tensor matmulPlus(
            Gpu g,
            BatchedGemm gemm,
            boolean allowTf32,
            Tensor a,
            Tensor b,
            boolean transA,
            boolean transB,
            Tensor addend) {
        String op = "matmulPlus";
        if (!addend.isContiguous() || !supportsInto(g, a, b, addend)) return null;
        int[] mnk = productDims(a, b, transA, transB, addend);
        if (mnk == null || mnk[0] == 0 || mnk[1] == 0 || mnk[2] == 0) return null;
        g.check(op, a);
        g.check(op, b);
        g.check(op, addend);
        g.bind();
        Tensor out = g.alloc(addend.dtype(), addend.shape());
        product(g, gemm, allowTf32, op, a, b, transA, transB, mnk, out, mnk[1], 1, addend);
        return out;
    }

    public static Tensor matmul(
            Gpu g,
            BatchedGemm gemm,
            boolean allowTf32,
            Tensor a,
            Tensor b,
            boolean transA,
            boolean transB,
            DType outDtype) {
        String op = "matmul";
        g.check(op, a);
        g.check(op, b);
        g.bind();
        if (a.ndim() < 2 || b.ndim() < 2) {
            throw new IllegalArgumentException(
                    op + ": expected tensors of at least 2 dimensions, got " + a.describe() + " and " + b.describe());
        }
        for (Tensor t : new Tensor[] {a, b}) {
            if (!t.dtype().isFloating())
                throw new IllegalArgumentException(op + ": expected a floating tensor, got " + t.describe());
        }
        int m = transA ? a.size(-1) : a.size(-2);
        int ka = transA ? a.size(-2) : a.size(-1);
        int kb = transB ? b.size(-1) : b.size(-2);
        int n = transB ? b.size(-2) : b.size(-1);
        if (ka != kb) {
            throw new IllegalArgumentException(op + ": inner dimensions differ: " + a.describe() + (transA ? "ᵀ" : "")
                    + " · " + b.describe() + (transB ? "ᵀ" : "") + " (" + ka + " vs " + kb + ")");
        }
        int k = ka;
        int[] batchShape = Shape.broadcast(
                op, java.util.Arrays.copyOf(a.shape(), a.ndim() - 2), java.util.Arrays.copyOf(b.shape(), b.ndim() - 2));
        DType rt = outDtype != null
                ? outDtype
                : (a.dtype() == b.dtype() ? a.dtype() : CudaElementwise.promote(a.dtype(), b.dtype()));
        int[] outShape = Shape.concat(batchShape, m, n);
        long batch = Shape.numel(batchShape);
        // input type and the product's own output type
        DType ct;
        BatchedGemm.Types types;
        DType prodType;
        if (a.dtype() == DType.F64 || b.dtype() == DType.F64) {
            ct = DType.F64;
            types = BatchedGemm.Types.F64;
            prodType = DType.F64;
        } else if (a.dtype() == b.dtype() && (a.dtype() == DType.BF16 || a.dtype() == DType.F16)) {
            ct = a.dtype();
            boolean bf = ct == DType.BF16;
            if (rt == ct) {
                types = bf ? BatchedGemm.Types.BF16 : BatchedGemm.Types.F16;
                prodType = ct;
            } else {
                types = bf ? BatchedGemm.Types.BF16_F32 : BatchedGemm.Types.F16_F32;
                prodType = DType.F32;
            }
        } else {
            ct = DType.F32;
            types = allowTf32 ? BatchedGemm.Types.TF32 : BatchedGemm.Types.F32;
            prodType = DType.F32;
        }
        Tensor out = g.alloc(prodType, outShape);
        if (batch == 0 || m == 0 || n == 0) return g.convert(out, rt);
        if (k == 0) {
            CudaCopy.fill(g, out, 0);
            return g.convert(out, rt);
        }
        Operand pa = operand(g, a, ct, transA);
        Operand pb = operand(g, b, ct, transB);
        long es = ct.byteSize();
        long os = prodType.byteSize();
        long aBase = g.ptr(pa.t, op).address();
        long bBase = g.ptr(pb.t, op).address();
        long cBase = g.ptr(out, op).address();
        long[] sa = batchStrides(pa.t, batchShape);
        long[] sb = batchStrides(pb.t, batchShape);
        long mn = (long) m * n;
        long ua = uniformStride(batchShape, sa);
        long ub = uniformStride(batchShape, sb);
        boolean done = false;
        if (ua >= 0 && ub >= 0 && batch <= Integer.MAX_VALUE) {
            try {
                gemm.matmul(types, pa.trans, pb.trans, m, n, k, aBase, pa.ld, ua, bBase, pb.ld, ub, cBase, n, mn, (int)
                        batch);
                done = true;
            } catch (RuntimeException e) {
                if (batch == 1) throw e;
                // e.g. no algorithm for a broadcast (stride 0) batch: one product per entry below
            }
        }
        if (!done) {
            for (long p = 0; p < batch; p++) {
                long oa = 0, ob = 0, rem = p;
                for (int i = batchShape.length - 1; i >= 0; i--) {
                    long idx = rem % batchShape[i];
                    rem /= batchShape[i];
                    oa += idx * sa[i];
                    ob += idx * sb[i];
                }
                gemm.matmul(
                        types,
                        pa.trans,
                        pb.trans,
                        m,
                        n,
                        k,
                        aBase + oa * es,
                        pa.ld,
                        0,
                        bBase + ob * es,
                        pb.ld,
                        0,
                        cBase + p * mn * os,
                        n,
                        0,
                        1);
            }
        }
        Gpu.freeTemp(pa.t, a);
        Gpu.freeTemp(pb.t, b);
        return g.convert(out, rt);
    }
}
