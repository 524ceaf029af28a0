package fulgur.backend.cpu;

import fulgur.backend.ReduceOp;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;

/**
 * Reductions. The reduced axes are moved last (a copy only when they are not already last and contiguous), then each
 * row is reduced with vector accumulators; sums over leading axes of a contiguous tensor accumulate columns instead.
 */
final class CpuReduce {
    private CpuReduce() {}

    private static final ByteOrder NO = ByteOrder.nativeOrder();

    static Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepDims) {
        String name = "reduce " + op;
        CpuSupport.checkCpu(name, x);
        int nd = x.ndim();
        boolean[] red = new boolean[nd];
        for (int a : axes) {
            red[a] = true;
        }
        int[] shape = x.shape();
        int[] outShape = outShape(shape, red, keepDims);
        DType mt = CpuSupport.mathType(x.dtype());
        long outer = 1;
        long inner = 1;
        for (int i = 0; i < nd; i++) {
            if (red[i]) {
                inner *= shape[i];
            } else {
                outer *= shape[i];
            }
        }
        if (x.numel() == 0 && inner == 0 && (op == ReduceOp.MAX || op == ReduceOp.MIN)) {
            throw new IllegalArgumentException(name + ": cannot reduce an empty dimension of " + x.describe());
        }
        Tensor out = CpuSupport.alloc(mt, outShape);
        MemorySegment d = out.hostSegment(name);
        if ((op == ReduceOp.SUM || op == ReduceOp.MEAN)
                && isLeadingPrefix(red)
                && x.isContiguous()
                && x.dtype() == mt) {
            sumLeading(x, mt, inner, outer, op == ReduceOp.MEAN, d);
            return CpuSupport.convert(out, x.dtype().isFloating() ? x.dtype() : mt);
        }
        int[] perm = new int[nd];
        int k = 0;
        for (int i = 0; i < nd; i++) {
            if (!red[i]) {
                perm[k++] = i;
            }
        }
        for (int i = 0; i < nd; i++) {
            if (red[i]) {
                perm[k++] = i;
            }
        }
        Tensor moved = CpuSupport.contiguousAs(permuteRaw(x, perm), mt);
        MemorySegment s = moved.hostSegment(name);
        long base = moved.offset();
        long len = inner;
        Parallel.forRange(Shape.toInt(name, outer), Math.max(1, (int) (16384 / Math.max(1, len))), (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                double v = mt == DType.F32
                        ? reduceRowF32(op, s, base + r * len, len)
                        : reduceRowF64(op, s, base + r * len, len);
                CpuElementwise.set(d, mt, r, v);
            }
        });
        return CpuSupport.convert(out, x.dtype().isFloating() ? x.dtype() : mt);
    }

    static int[] outShape(int[] shape, boolean[] red, boolean keepDims) {
        int n = 0;
        for (int i = 0; i < shape.length; i++) {
            if (!red[i] || keepDims) {
                n++;
            }
        }
        int[] r = new int[n];
        int k = 0;
        for (int i = 0; i < shape.length; i++) {
            if (!red[i]) {
                r[k++] = shape[i];
            } else if (keepDims) {
                r[k++] = 1;
            }
        }
        return r;
    }

    private static boolean isLeadingPrefix(boolean[] red) {
        boolean seenKept = false;
        for (boolean r : red) {
            if (r && seenKept) {
                return false;
            }
            if (!r) {
                seenKept = true;
            }
        }
        return true;
    }

    /** out[j] = Σ_i x[i·cols + j] for a contiguous x of rows×cols. */
    private static void sumLeading(Tensor x, DType mt, long rows, long cols, boolean mean, MemorySegment d) {
        MemorySegment s = x.hostSegment("sum");
        long base = x.offset();
        double scale = mean ? 1.0 / rows : 1.0;
        int colChunks = Shape.toInt("sum", (cols + 255) / 256);
        Parallel.forRange(colChunks, 1, (c0, c1) -> {
            long j0 = c0 * 256L;
            long j1 = Math.min(cols, c1 * 256L);
            if (mt == DType.F32) {
                float[] acc = new float[(int) (j1 - j0)];
                for (long i = 0; i < rows; i++) {
                    long row = base + i * cols;
                    int j = 0;
                    int n = acc.length;
                    int bound = CpuElementwise.F.loopBound(n);
                    for (; j < bound; j += CpuElementwise.F.length()) {
                        FloatVector a = FloatVector.fromArray(CpuElementwise.F, acc, j);
                        a.add(FloatVector.fromMemorySegment(CpuElementwise.F, s, (row + j0 + j) * 4, NO))
                                .intoArray(acc, j);
                    }
                    for (; j < n; j++) {
                        acc[j] += s.getAtIndex(ValueLayout.JAVA_FLOAT, row + j0 + j);
                    }
                }
                for (int j = 0; j < acc.length; j++) {
                    d.setAtIndex(ValueLayout.JAVA_FLOAT, j0 + j, (float) (acc[j] * scale));
                }
            } else {
                double[] acc = new double[(int) (j1 - j0)];
                for (long i = 0; i < rows; i++) {
                    long row = base + i * cols;
                    for (int j = 0; j < acc.length; j++) {
                        acc[j] += s.getAtIndex(ValueLayout.JAVA_DOUBLE, row + j0 + j);
                    }
                }
                for (int j = 0; j < acc.length; j++) {
                    d.setAtIndex(ValueLayout.JAVA_DOUBLE, j0 + j, acc[j] * scale);
                }
            }
        });
    }

    /** Sums run on vector accumulators; the other reductions share the scalar loop of {@link #reduceRow}. */
    static double reduceRowF32(ReduceOp op, MemorySegment s, long off, long len) {
        if (op != ReduceOp.SUM && op != ReduceOp.MEAN) {
            return reduceRow(op, s, DType.F32, off, len);
        }
        var sp = CpuElementwise.F;
        int lanes = sp.length();
        long bound = len - len % lanes;
        FloatVector acc = FloatVector.zero(sp);
        long i = 0;
        for (; i < bound; i += lanes) {
            acc = acc.add(FloatVector.fromMemorySegment(sp, s, (off + i) * 4, NO));
        }
        double sum = Lanes.sum(acc);
        for (; i < len; i++) {
            sum += s.getAtIndex(ValueLayout.JAVA_FLOAT, off + i);
        }
        return op == ReduceOp.MEAN ? sum / len : sum;
    }

    static double reduceRowF64(ReduceOp op, MemorySegment s, long off, long len) {
        return reduceRow(op, s, DType.F64, off, len);
    }

    /** One row of len elements of type mt (f32 or f64) reduced in double precision; NaN propagates through max/min. */
    private static double reduceRow(ReduceOp op, MemorySegment s, DType mt, long off, long len) {
        switch (op) {
            case SUM, MEAN -> {
                double sum = 0;
                for (long i = 0; i < len; i++) {
                    sum += CpuElementwise.get(s, mt, off + i);
                }
                return op == ReduceOp.MEAN ? sum / len : sum;
            }
            case MAX, MIN -> {
                boolean max = op == ReduceOp.MAX;
                double best = max ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
                for (long i = 0; i < len; i++) {
                    double v = CpuElementwise.get(s, mt, off + i);
                    if (Double.isNaN(v)) {
                        return Double.NaN;
                    }
                    best = max ? Math.max(best, v) : Math.min(best, v);
                }
                return best;
            }
            case LOGSUMEXP -> {
                double m = Double.NEGATIVE_INFINITY;
                for (long i = 0; i < len; i++) {
                    m = Math.max(m, CpuElementwise.get(s, mt, off + i));
                }
                if (Double.isInfinite(m)) {
                    return m;
                }
                double sum = 0;
                for (long i = 0; i < len; i++) {
                    sum += Math.exp(CpuElementwise.get(s, mt, off + i) - m);
                }
                return m + Math.log(sum);
            }
            default -> throw new IllegalStateException(op.name());
        }
    }

    static Tensor argReduce(boolean max, Tensor x, int axis, boolean keepDim) {
        String name = max ? "argmax" : "argmin";
        CpuSupport.checkCpu(name, x);
        int nd = x.ndim();
        if (x.size(axis) == 0) {
            throw new IllegalArgumentException(name + ": cannot reduce an empty dimension of " + x.describe());
        }
        int[] perm = new int[nd];
        int k = 0;
        for (int i = 0; i < nd; i++) {
            if (i != axis) {
                perm[k++] = i;
            }
        }
        perm[k] = axis;
        DType mt = CpuSupport.mathType(x.dtype());
        Tensor moved = CpuSupport.contiguousAs(permuteRaw(x, perm), mt);
        boolean[] red = new boolean[nd];
        red[axis] = true;
        Tensor out = CpuSupport.alloc(DType.I64, outShape(x.shape(), red, keepDim));
        MemorySegment s = moved.hostSegment(name);
        MemorySegment d = out.hostSegment(name);
        long len = x.size(axis);
        long base = moved.offset();
        long rows = x.numel() / len;
        for (long r = 0; r < rows; r++) {
            long best = 0;
            double bv = CpuElementwise.get(s, mt, base + r * len);
            for (long i = 1; i < len && !Double.isNaN(bv); i++) {
                double v = CpuElementwise.get(s, mt, base + r * len + i);
                if (Double.isNaN(v) || (max ? v > bv : v < bv)) {
                    bv = v;
                    best = i;
                }
            }
            d.setAtIndex(ValueLayout.JAVA_LONG, r, best);
        }
        return out;
    }

    /** A permuted view without autograd (backend-internal). */
    static Tensor permuteRaw(Tensor x, int[] perm) {
        int[] s = x.shape();
        long[] st = x.strides();
        int[] ns = new int[perm.length];
        long[] nst = new long[perm.length];
        for (int i = 0; i < perm.length; i++) {
            ns[i] = s[perm[i]];
            nst[i] = st[perm[i]];
        }
        return Tensor.view(x.storage(), x.dtype(), ns, nst, x.offset());
    }
}
