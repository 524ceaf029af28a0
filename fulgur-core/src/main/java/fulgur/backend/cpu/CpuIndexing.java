package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Elements;
import fulgur.tensor.Rng;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/** Concatenation, gather/scatter, index select/add, where, cumsum and dropout masks. */
final class CpuIndexing {
    private CpuIndexing() {}

    static Tensor narrowRaw(Tensor t, int axis, int start, int len) {
        int[] s = t.shape();
        s[axis] = len;
        return Tensor.view(t.storage(), t.dtype(), s, t.strides(), t.offset() + start * t.stride(axis));
    }

    /** Visits every position of {@code shape}, giving its row-major flat index and the coordinates. */
    private interface Visitor {
        void at(long flat, int[] coord);
    }

    private static void forEach(int[] shape, Visitor v) {
        long n = Shape.numel(shape);
        int[] coord = new int[shape.length];
        for (long f = 0; f < n; f++) {
            v.at(f, coord);
            for (int i = shape.length - 1; i >= 0; i--) {
                if (++coord[i] < shape[i]) {
                    break;
                }
                coord[i] = 0;
            }
        }
    }

    private static long offsetOf(Tensor t, int[] coord, int axis, long axisIndex) {
        long o = t.offset();
        long[] st = t.strides();
        for (int i = 0; i < coord.length; i++) {
            o += (i == axis ? axisIndex : coord[i]) * st[i];
        }
        return o;
    }

    static Tensor gather(Tensor x, int axis, Tensor index) {
        String op = "gather";
        CpuSupport.checkCpu(op, x);
        CpuSupport.checkInteger(op, index);
        if (index.ndim() != x.ndim()) {
            throw new IllegalArgumentException(
                    op + ": index " + index.describe() + " must have the rank of " + x.describe());
        }
        int[] is = index.shape();
        for (int i = 0; i < is.length; i++) {
            if (i != axis && is[i] > x.size(i)) {
                throw new IllegalArgumentException(
                        op + ": index " + index.describe() + " is larger than " + x.describe() + " in dimension " + i);
            }
        }
        Tensor out = CpuSupport.alloc(x.dtype(), is);
        long[] idx = CpuSupport.indices(index);
        MemorySegment s = x.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        int len = x.size(axis);
        DType dt = x.dtype();
        forEach(is, (f, c) -> {
            long k = idx[(int) f];
            if (k < 0 || k >= len) {
                throw new IndexOutOfBoundsException(op + ": index " + k + " out of range [0, " + len + ") along axis "
                        + axis + " of " + x.describe());
            }
            Elements.set(d, dt, f, Elements.get(s, dt, offsetOf(x, c, axis, k)));
        });
        return out;
    }

    static Tensor scatterAdd(int[] shape, int axis, Tensor index, Tensor src) {
        String op = "scatterAdd";
        CpuSupport.checkInteger(op, index);
        if (!index.sameShape(src)) {
            throw new IllegalArgumentException(
                    op + ": index " + index.describe() + " and source " + src.describe() + " differ in shape");
        }
        if (index.ndim() != shape.length) {
            throw new IllegalArgumentException(
                    op + ": index " + index.describe() + " must have the rank of the target shape " + Shape.str(shape));
        }
        for (int i = 0; i < shape.length; i++) {
            if (i != axis && index.size(i) > shape[i]) {
                throw new IllegalArgumentException(op + ": index " + index.describe()
                        + " is larger than the target shape " + Shape.str(shape) + " in dimension " + i);
            }
        }
        DType mt = CpuSupport.mathType(src.dtype());
        Tensor out = CpuSupport.alloc(mt, shape);
        CpuCopy.fill(out, 0);
        long[] idx = CpuSupport.indices(index);
        Tensor s = CpuSupport.contiguousAs(src, mt);
        MemorySegment sm = s.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        int len = shape[axis];
        forEach(index.shape(), (f, c) -> {
            long k = idx[(int) f];
            if (k < 0 || k >= len) {
                throw new IndexOutOfBoundsException(
                        op + ": index " + k + " out of range [0, " + len + ") along axis " + axis);
            }
            long o = offsetOf(out, c, axis, k);
            CpuElementwise.set(d, mt, o, CpuElementwise.get(d, mt, o) + CpuElementwise.get(sm, mt, s.offset() + f));
        });
        return CpuSupport.convert(out, src.dtype());
    }

    private static long[] checkIndex(String op, Tensor index, int len, int axis) {
        CpuSupport.checkInteger(op, index);
        if (index.ndim() != 1) {
            throw new IllegalArgumentException(op + ": expected a 1-D index, got " + index.describe());
        }
        long[] idx = CpuSupport.indices(index);
        for (long k : idx) {
            if (k < 0 || k >= len) {
                throw new IndexOutOfBoundsException(
                        op + ": index " + k + " out of range [0, " + len + ") along axis " + axis);
            }
        }
        return idx;
    }

    static Tensor indexSelect(Tensor x, int axis, Tensor index) {
        String op = "indexSelect";
        CpuSupport.checkCpu(op, x);
        long[] idx = checkIndex(op, index, x.size(axis), axis);
        int[] os = x.shape();
        os[axis] = idx.length;
        Tensor out = CpuSupport.alloc(x.dtype(), os);
        for (int i = 0; i < idx.length; i++) {
            CpuCopy.copy(narrowRaw(x, axis, (int) idx[i], 1), narrowRaw(out, axis, i, 1));
        }
        return out;
    }

    static Tensor indexAdd(int[] shape, int axis, Tensor index, Tensor src) {
        String op = "indexAdd";
        long[] idx = checkIndex(op, index, shape[axis], axis);
        DType mt = CpuSupport.mathType(src.dtype());
        Tensor out = CpuSupport.alloc(mt, shape);
        CpuCopy.fill(out, 0);
        int[] expect = shape.clone();
        expect[axis] = idx.length;
        if (!java.util.Arrays.equals(expect, src.shape())) {
            throw new IllegalArgumentException(
                    op + ": source " + src.describe() + " must have shape " + Shape.str(expect));
        }
        // contiguous [outer, len, inner] view: add whole inner rows (MoE combine adds many short rows)
        Tensor sc = CpuSupport.contiguousAs(src, mt);
        long inner = 1;
        for (int a = axis + 1; a < shape.length; a++) {
            inner *= shape[a];
        }
        long outer = 1;
        for (int a = 0; a < axis; a++) {
            outer *= shape[a];
        }
        MemorySegment sm = sc.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        long so = sc.offset();
        int len = shape[axis];
        // Parallel over (outer, column range): each output element still sums its rows in index order, and repeated
        // indices never race (the embedding gradient adds many rows into one vocabulary row).
        long innerF = inner;
        int colChunks = (int) Math.max(1, Math.min(Parallel.threads(), inner / 64));
        int grain = (int) Math.max(1, 65536 / Math.max(1, (long) idx.length * inner / colChunks));
        Parallel.forRange(Math.toIntExact(outer * colChunks), grain, (u0, u1) -> {
            for (int u = u0; u < u1; u++) {
                long o = u / colChunks;
                int cc = u % colChunks;
                long c0 = innerF * cc / colChunks;
                long c1 = innerF * (cc + 1) / colChunks;
                for (int i = 0; i < idx.length; i++) {
                    long from = so + (o * idx.length + i) * innerF;
                    long to = (o * len + idx[i]) * innerF;
                    for (long c = c0; c < c1; c++) {
                        CpuElementwise.set(
                                d,
                                mt,
                                to + c,
                                CpuElementwise.get(d, mt, to + c) + CpuElementwise.get(sm, mt, from + c));
                    }
                }
            }
        });
        return CpuSupport.convert(out, src.dtype());
    }

    static Tensor where(Tensor cond, Tensor a, Tensor b) {
        String op = "where";
        int[] shape = Shape.broadcast(op, Shape.broadcast(op, cond.shape(), a.shape()), b.shape());
        DType rt = CpuSupport.promote(a.dtype(), b.dtype());
        Tensor out = CpuSupport.alloc(rt, shape);
        long[] sc = CpuElementwise.broadcastStrides(cond, shape);
        long[] sa = CpuElementwise.broadcastStrides(a, shape);
        long[] sb = CpuElementwise.broadcastStrides(b, shape);
        MemorySegment cm = cond.hostSegment(op);
        MemorySegment am = a.hostSegment(op);
        MemorySegment bm = b.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        forEach(shape, (f, c) -> {
            long oc = cond.offset();
            long oa = a.offset();
            long ob = b.offset();
            for (int i = 0; i < c.length; i++) {
                oc += c[i] * sc[i];
                oa += c[i] * sa[i];
                ob += c[i] * sb[i];
            }
            boolean pick = Elements.get(cm, cond.dtype(), oc) != 0;
            Elements.set(d, rt, f, pick ? Elements.get(am, a.dtype(), oa) : Elements.get(bm, b.dtype(), ob));
        });
        return out;
    }

    static Tensor cumsum(Tensor x, int axis, boolean reverse) {
        String op = "cumsum";
        CpuSupport.checkCpu(op, x);
        DType mt = CpuSupport.mathType(x.dtype());
        Tensor in = CpuSupport.contiguousAs(x, mt);
        Tensor out = CpuSupport.alloc(mt, x.shape());
        int[] s = x.shape();
        int len = s[axis];
        long inner = Shape.prod(s, axis + 1, s.length);
        long outer = Shape.prod(s, 0, axis);
        MemorySegment sm = in.hostSegment(op);
        MemorySegment d = out.hostSegment(op);
        for (long o = 0; o < outer; o++) {
            for (long j = 0; j < inner; j++) {
                double acc = 0;
                for (int step = 0; step < len; step++) {
                    int i = reverse ? len - 1 - step : step;
                    long e = (o * len + i) * inner + j;
                    acc += CpuElementwise.get(sm, mt, in.offset() + e);
                    CpuElementwise.set(d, mt, e, acc);
                }
            }
        }
        return CpuSupport.convert(out, x.dtype().isFloating() ? x.dtype() : mt);
    }

    static Tensor dropoutMask(Tensor like, double p, long stream) {
        DType dt = like.dtype().isFloating() ? like.dtype() : DType.F32;
        Tensor out = CpuSupport.alloc(dt, like.shape());
        MemorySegment d = out.hostSegment("dropout");
        double keep = 1 / (1 - p);
        long n = like.numel();
        CpuElementwise.forChunks(n, (a, b) -> {
            for (long i = a; i < b; i++) {
                Elements.set(d, dt, i, Rng.uniform(stream, i) < p ? 0 : keep);
            }
        });
        return out;
    }
}
