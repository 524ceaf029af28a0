package fulgur.cuda.backend;

import fulgur.backend.ReduceOp;
import fulgur.cuda.DeviceBuffer;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/**
 * Reductions over any set of axes: the reduced axes are moved last in a view (no copy), giving a [rows, len] space;
 * splits of each row reduce in parallel into double partials, which a second kernel combines. Rows whose elements
 * are adjacent in memory use one thread per row (reductions over leading axes), others one block per row split.
 */
public final class CudaReduce {
    private CudaReduce() {}

    static final String TENSOR = "tensor.cu";

    static int[] outShape(int[] shape, boolean[] red, boolean keepDims) {
        int n = 0;
        for (int i = 0; i < shape.length; i++) if (!red[i] || keepDims) n++;
        int[] r = new int[n];
        int k = 0;
        for (int i = 0; i < shape.length; i++) {
            if (!red[i]) r[k++] = shape[i];
            else if (keepDims) r[k++] = 1;
        }
        return r;
    }

    public static Tensor reduce(Gpu g, ReduceOp op, Tensor x, int[] axes, boolean keepDims) {
        String name = "reduce " + op;
        g.check(name, x);
        g.bind();
        int nd = x.ndim();
        boolean[] red = new boolean[nd];
        for (int a : axes) red[a] = true;
        int[] shape = x.shape();
        long[] st = x.strides();
        DType mt = CudaElementwise.mathType(x.dtype());
        long rows = 1, len = 1;
        for (int i = 0; i < nd; i++) {
            if (red[i]) len *= shape[i];
            else rows *= shape[i];
        }
        if (x.numel() == 0 && len == 0 && (op == ReduceOp.MAX || op == ReduceOp.MIN)) {
            throw new IllegalArgumentException(name + ": cannot reduce an empty dimension of " + x.describe());
        }
        Tensor out = g.alloc(x.dtype().isFloating() ? x.dtype() : mt, outShape(shape, red, keepDims));
        if (rows == 0) return out;
        int[] pshape = new int[nd];
        long[] pst = new long[nd];
        int k = 0;
        long rowStride = 0, lenStride = 0;
        for (int i = 0; i < nd; i++) {
            if (!red[i]) {
                pshape[k] = shape[i];
                pst[k++] = st[i];
                if (shape[i] != 1) rowStride = st[i];
            }
        }
        for (int i = 0; i < nd; i++) {
            if (red[i]) {
                pshape[k] = shape[i];
                pst[k++] = st[i];
                if (shape[i] != 1) lenStride = st[i];
            }
        }
        Desc d = Desc.of(name, pshape, pst);
        int opCode = switch (op) {
            case SUM -> 0;
            case MEAN -> 1;
            case MAX -> 2;
            case MIN -> 3;
            case LOGSUMEXP -> 4;
        };
        boolean cols = op != ReduceOp.LOGSUMEXP && len > 1 && rows >= 32 && lenStride != 1 && rowStride == 1;
        int sms = g.multiprocessors();
        int splits;
        if (cols) {
            long want = Math.max(1, (sms * 2048L) / rows);
            splits = (int) Math.max(1, Math.min(Math.min(want, 4096), Math.max(1, len / 64)));
        } else {
            long want = Math.max(1, (sms * 4L) / rows);
            splits = (int) Math.max(1, Math.min(Math.min(want, 1024), Math.max(1, len / 2048)));
        }
        try (DeviceBuffer part = g.ctx.allocate(16L * rows * splits, g.stream)) {
            if (cols) {
                int bx = (int) Math.min((rows + Gpu.THREADS - 1) / Gpu.THREADS, 65535L * 16);
                g.kernel(TENSOR, "t_reduce_cols")
                        .launch(
                                g.stream,
                                Math.max(1, bx),
                                splits,
                                1,
                                Gpu.THREADS,
                                0,
                                d.struct(),
                                opCode,
                                g.ptr(x, name),
                                Gpu.code(x.dtype()),
                                rows,
                                len,
                                splits,
                                part);
            } else {
                long tasks = rows * splits;
                int grid = (int) Math.min(tasks, (long) sms * 32);
                int threads = len >= 256 ? Gpu.THREADS : 64;
                g.kernel(TENSOR, "t_reduce_rows")
                        .launch(
                                g.stream,
                                grid,
                                1,
                                1,
                                threads,
                                0,
                                d.struct(),
                                opCode,
                                g.ptr(x, name),
                                Gpu.code(x.dtype()),
                                rows,
                                len,
                                splits,
                                part);
            }
            g.launch(
                    g.kernel(TENSOR, "t_reduce_final"),
                    rows,
                    part,
                    opCode,
                    rows,
                    len,
                    splits,
                    g.ptr(out, name),
                    Gpu.code(out.dtype()));
        }
        return out;
    }

    public static Tensor argReduce(Gpu g, boolean max, Tensor x, int axis, boolean keepDim) {
        String name = max ? "argmax" : "argmin";
        g.check(name, x);
        g.bind();
        int nd = x.ndim();
        if (x.size(axis) == 0) {
            throw new IllegalArgumentException(name + ": cannot reduce an empty dimension of " + x.describe());
        }
        int[] shape = x.shape();
        long[] st = x.strides();
        int[] pshape = new int[nd];
        long[] pst = new long[nd];
        int k = 0;
        for (int i = 0; i < nd; i++) {
            if (i != axis) {
                pshape[k] = shape[i];
                pst[k++] = st[i];
            }
        }
        pshape[k] = shape[axis];
        pst[k] = st[axis];
        boolean[] red = new boolean[nd];
        red[axis] = true;
        Tensor out = g.alloc(DType.I64, outShape(shape, red, keepDim));
        long len = shape[axis];
        long rows = x.numel() / len;
        if (rows == 0) return out;
        Desc d = Desc.of(name, pshape, pst);
        int grid = (int)
                Math.max(1, Math.min((rows * 32 + Gpu.THREADS - 1) / Gpu.THREADS, (long) g.multiprocessors() * 32));
        g.kernel(TENSOR, "t_argreduce")
                .launch(
                        g.stream,
                        grid,
                        1,
                        1,
                        Gpu.THREADS,
                        0,
                        d.struct(),
                        max ? 1 : 0,
                        g.ptr(x, name),
                        Gpu.code(x.dtype()),
                        rows,
                        len,
                        g.ptr(out, name));
        return out;
    }

    public static Tensor cumsum(Gpu g, Tensor x, int axis, boolean reverse) {
        String op = "cumsum";
        g.check(op, x);
        g.bind();
        DType mt = CudaElementwise.mathType(x.dtype());
        Tensor in = g.contiguous(op, x);
        int[] s = x.shape();
        Tensor out = g.alloc(x.dtype().isFloating() ? x.dtype() : mt, s);
        long len = s[axis];
        long inner = fulgur.tensor.Shape.prod(s, axis + 1, s.length);
        long outer = fulgur.tensor.Shape.prod(s, 0, axis);
        g.launch(
                g.kernel(TENSOR, "t_cumsum"),
                outer * inner,
                g.ptr(in, op),
                Gpu.code(in.dtype()),
                g.ptr(out, op),
                Gpu.code(out.dtype()),
                outer,
                len,
                inner,
                reverse ? 1 : 0);
        Gpu.freeTemp(in, x);
        return out;
    }
}
