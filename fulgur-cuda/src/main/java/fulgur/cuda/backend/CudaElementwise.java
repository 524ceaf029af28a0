package fulgur.cuda.backend;

import fulgur.backend.BinaryOp;
import fulgur.backend.UnaryOp;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/** Elementwise kernels with the CPU backend's dtype rules: f32/bf16/f16 compute in f32, f64 and integers in f64. */
public final class CudaElementwise {
    private CudaElementwise() {}

    static final String TENSOR = "tensor.cu";

    /** The type elementwise math runs in: f64 for f64 and integers, f32 otherwise. */
    public static DType mathType(DType d) {
        return switch (d) {
            case F64, I32, I64 -> DType.F64;
            default -> DType.F32;
        };
    }

    /** Promotion of two dtypes for binary ops (as the CPU backend). */
    public static DType promote(DType a, DType b) {
        if (a == b) return a;
        if (a == DType.F64 || b == DType.F64) return DType.F64;
        if (a.isFloating() && b.isFloating()) return DType.F32;
        if (a.isFloating()) return a;
        if (b.isFloating()) return b;
        return DType.I64;
    }

    /** Strides of t viewed with the broadcast shape (0 on broadcast dimensions). */
    public static long[] broadcastStrides(Tensor t, int[] shape) {
        int[] ts = t.shape();
        long[] st = t.strides();
        long[] r = new long[shape.length];
        int lead = shape.length - ts.length;
        for (int i = 0; i < ts.length; i++) r[lead + i] = ts[i] == 1 && shape[lead + i] != 1 ? 0 : st[i];
        return r;
    }

    /** Contiguous f32/bf16 with the alignment of the vectorised kernels (16 bytes for f32, 8 for bf16). */
    static boolean fast(Gpu g, Tensor t, String op) {
        if (!t.isContiguous() || (t.dtype() != DType.F32 && t.dtype() != DType.BF16)) return false;
        return g.ptr(t, op).address() % (t.dtype() == DType.F32 ? 16 : 8) == 0;
    }

    static String tn(DType d) {
        return d == DType.F32 ? "f32" : "bf16";
    }

    /**
     * {rows, cols, ld of each operand} when every operand (f32/bf16, same shape) is a [rows, cols] matrix with a
     * contiguous last dimension, cols and the row strides multiples of 4 and the bases aligned for the 4-wide
     * kernels (column slices of a wider tensor); else null.
     */
    static long[] rowStrided(Gpu g, String op, int[] shape, Tensor... ts) {
        long[][] st = new long[ts.length][];
        for (int i = 0; i < ts.length; i++) {
            Tensor t = ts[i];
            if (t.dtype() != DType.F32 && t.dtype() != DType.BF16) return null;
            if (g.ptr(t, op).address() % (t.dtype() == DType.F32 ? 16 : 8) != 0) return null;
            st[i] = t.strides();
        }
        Desc d = Desc.of(op, shape, st);
        int nd = d.ndim();
        if (nd > 2) return null;
        long cols = d.size(nd - 1);
        long rows = nd == 2 ? d.size(0) : 1;
        if (cols % 4 != 0 || cols > Integer.MAX_VALUE) return null;
        long[] r = new long[2 + ts.length];
        r[0] = rows;
        r[1] = cols;
        for (int i = 0; i < ts.length; i++) {
            if (d.stride(i, nd - 1) != 1) return null;
            long ld = nd == 2 ? d.stride(i, 0) : cols;
            if (ld % 4 != 0) return null;
            r[2 + i] = ld;
        }
        return r;
    }

    public static Tensor unary(Gpu g, UnaryOp op, Tensor x, double param) {
        String name = "unary " + op;
        g.check(name, x);
        if (fast(g, x, name)) {
            g.bind();
            Tensor out = g.alloc(x.dtype(), x.shape());
            long n = x.numel();
            g.launch(
                    g.kernel(TENSOR, "t_unary_c_" + tn(x.dtype())),
                    Math.max(1, n / 4),
                    op.ordinal(),
                    g.ptr(x, name),
                    g.ptr(out, name),
                    (float) param,
                    n);
            return out;
        }
        long[] rs = rowStrided(g, name, x.shape(), x);
        if (rs != null && x.numel() > 0) {
            g.bind();
            Tensor out = g.alloc(x.dtype(), x.shape());
            g.launch(
                    g.kernel(TENSOR, "t_unary_r_" + tn(x.dtype())),
                    rs[0] * rs[1] / 4,
                    op.ordinal(),
                    g.ptr(x, name),
                    rs[2],
                    g.ptr(out, name),
                    (float) param,
                    rs[0],
                    (int) rs[1]);
            return out;
        }
        return unaryStrided(g, op, x, param);
    }

    static Tensor unaryStrided(Gpu g, UnaryOp op, Tensor x, double p) {
        String name = "unary " + op;
        g.check(name, x);
        g.bind();
        DType mt = mathType(x.dtype());
        Tensor out = g.alloc(x.dtype(), x.shape());
        long n = x.numel();
        if (n == 0) return out;
        Desc d = Desc.of(name, x.shape(), x.strides(), out.strides());
        if (mt == DType.F32) {
            g.launch(
                    g.kernel(TENSOR, "t_unary_f"),
                    n,
                    d.struct(),
                    op.ordinal(),
                    g.ptr(x, name),
                    Gpu.code(x.dtype()),
                    g.ptr(out, name),
                    Gpu.code(out.dtype()),
                    (float) p,
                    n);
        } else {
            g.launch(
                    g.kernel(TENSOR, "t_unary_d"),
                    n,
                    d.struct(),
                    op.ordinal(),
                    g.ptr(x, name),
                    Gpu.code(x.dtype()),
                    g.ptr(out, name),
                    Gpu.code(out.dtype()),
                    p,
                    n);
        }
        return out;
    }

    public static Tensor unaryBackward(Gpu g, UnaryOp op, Tensor x, Tensor y, Tensor dy, double p) {
        String name = "unaryBackward " + op;
        g.check(name, x);
        g.check(name, dy);
        if (!x.sameShape(dy)) {
            throw new IllegalArgumentException(
                    name + ": gradient shape " + Shape.str(dy.shape()) + " does not match input " + x.describe());
        }
        if (y != null) {
            g.check(name, y);
            if (!x.sameShape(y)) {
                throw new IllegalArgumentException(
                        name + ": output shape " + Shape.str(y.shape()) + " does not match input " + x.describe());
            }
        }
        g.bind();
        DType mt = mathType(x.dtype());
        Tensor out = g.alloc(x.dtype().isFloating() ? x.dtype() : mt, x.shape());
        long n = x.numel();
        if (n == 0) return out;
        if (fast(g, x, name)
                && dy.dtype() == x.dtype()
                && fast(g, dy, name)
                && (y == null || (y.dtype() == x.dtype() && fast(g, y, name)))) {
            g.launch(
                    g.kernel(TENSOR, "t_unary_bwd_c_" + tn(x.dtype())),
                    Math.max(1, n / 4),
                    op.ordinal(),
                    g.ptr(x, name),
                    y == null ? null : g.ptr(y, name),
                    g.ptr(dy, name),
                    g.ptr(out, name),
                    (float) p,
                    n);
            return out;
        }
        if (dy.dtype() == x.dtype()
                && (y == null || y.dtype() == x.dtype())
                && (x.dtype() == DType.F32 || x.dtype() == DType.BF16)) {
            long[] rs = y == null ? rowStrided(g, name, x.shape(), x, dy) : rowStrided(g, name, x.shape(), x, dy, y);
            if (rs != null) {
                g.launch(
                        g.kernel(TENSOR, "t_unary_bwd_r_" + tn(x.dtype())),
                        rs[0] * rs[1] / 4,
                        op.ordinal(),
                        g.ptr(x, name),
                        rs[2],
                        y == null ? null : g.ptr(y, name),
                        y == null ? 0L : rs[4],
                        g.ptr(dy, name),
                        rs[3],
                        g.ptr(out, name),
                        (float) p,
                        rs[0],
                        (int) rs[1]);
                return out;
            }
        }
        long[] ys = y == null ? new long[x.ndim()] : y.strides();
        Desc d = Desc.of(name, x.shape(), x.strides(), ys, dy.strides());
        Object yp = y == null ? null : g.ptr(y, name);
        int yt = y == null ? 0 : Gpu.code(y.dtype());
        if (mt == DType.F32) {
            g.launch(
                    g.kernel(TENSOR, "t_unary_bwd_f"),
                    n,
                    d.struct(),
                    op.ordinal(),
                    g.ptr(x, name),
                    Gpu.code(x.dtype()),
                    yp,
                    yt,
                    g.ptr(dy, name),
                    Gpu.code(dy.dtype()),
                    g.ptr(out, name),
                    Gpu.code(out.dtype()),
                    (float) p,
                    n);
        } else {
            g.launch(
                    g.kernel(TENSOR, "t_unary_bwd_d"),
                    n,
                    d.struct(),
                    op.ordinal(),
                    g.ptr(x, name),
                    Gpu.code(x.dtype()),
                    yp,
                    yt,
                    g.ptr(dy, name),
                    Gpu.code(dy.dtype()),
                    g.ptr(out, name),
                    Gpu.code(out.dtype()),
                    p,
                    n);
        }
        return out;
    }

    public static Tensor binary(Gpu g, BinaryOp op, Tensor a, Tensor b) {
        String name = "binary " + op;
        g.check(name, a);
        g.check(name, b);
        g.bind();
        int[] shape = Shape.broadcast(name, a.shape(), b.shape());
        DType rt = promote(a.dtype(), b.dtype());
        DType mt = mathType(rt);
        Tensor out = g.alloc(rt, shape);
        long n = out.numel();
        if (n == 0) return out;
        if (a.sameShape(b) && fast(g, a, name) && fast(g, b, name)) {
            g.launch(
                    g.kernel(TENSOR, "t_binary_c_" + tn(a.dtype()) + "_" + tn(b.dtype())),
                    Math.max(1, n / 4),
                    op.ordinal(),
                    g.ptr(a, name),
                    g.ptr(b, name),
                    g.ptr(out, name),
                    n);
            return out;
        }
        if (a.sameShape(b)) {
            long[] rs = rowStrided(g, name, shape, a, b);
            if (rs != null) {
                g.launch(
                        g.kernel(TENSOR, "t_binary_r_" + tn(a.dtype()) + "_" + tn(b.dtype())),
                        rs[0] * rs[1] / 4,
                        op.ordinal(),
                        g.ptr(a, name),
                        rs[2],
                        g.ptr(b, name),
                        rs[3],
                        g.ptr(out, name),
                        rs[0],
                        (int) rs[1]);
                return out;
            }
        }
        Desc d = Desc.of(name, shape, broadcastStrides(a, shape), broadcastStrides(b, shape), out.strides());
        g.launch(
                g.kernel(TENSOR, mt == DType.F32 ? "t_binary_f" : "t_binary_d"),
                n,
                d.struct(),
                op.ordinal(),
                g.ptr(a, name),
                Gpu.code(a.dtype()),
                g.ptr(b, name),
                Gpu.code(b.dtype()),
                g.ptr(out, name),
                Gpu.code(rt),
                n);
        return out;
    }

    /**
     * {dy ⊙ b, dy ⊙ a}, the backward of a ⊙ b, in one kernel when a, b and dy are of one shape and dtype (f32 or bf16),
     * contiguous and aligned for the 4-wide kernels; null otherwise (the caller forms the two products).
     */
    public static Tensor[] mulBackward(Gpu g, Tensor a, Tensor b, Tensor dy) {
        String name = "mulBackward";
        g.check(name, a);
        g.check(name, b);
        g.check(name, dy);
        if (!a.sameShape(b) || !a.sameShape(dy) || a.dtype() != b.dtype() || a.dtype() != dy.dtype()) return null;
        if (!fast(g, a, name) || !fast(g, b, name) || !fast(g, dy, name)) return null;
        g.bind();
        Tensor da = g.alloc(a.dtype(), a.shape());
        Tensor db = g.alloc(a.dtype(), a.shape());
        long n = a.numel();
        if (n > 0) {
            g.launch(
                    g.kernel(TENSOR, "t_mul_bwd_c_" + tn(a.dtype())),
                    Math.max(1, n / 4),
                    g.ptr(a, name),
                    g.ptr(b, name),
                    g.ptr(dy, name),
                    g.ptr(da, name),
                    g.ptr(db, name),
                    n);
        }
        return new Tensor[] {da, db};
    }

    /**
     * dst += src in place when dst is contiguous (each thread then reads and writes its own element of dst) and both
     * have one floating dtype and shape, rounded as {@link #binary} ADD rounds; false, doing nothing, otherwise (the
     * element kernels write only contiguous outputs).
     */
    public static boolean addInto(Gpu g, Tensor dst, Tensor src) {
        String name = "addInto";
        g.check(name, dst);
        g.check(name, src);
        if (dst.dtype() != src.dtype() || !dst.dtype().isFloating() || !dst.sameShape(src) || !dst.isContiguous())
            return false;
        g.bind();
        long n = dst.numel();
        if (n == 0) return true;
        if (fast(g, dst, name) && fast(g, src, name)) {
            g.launch(
                    g.kernel(TENSOR, "t_binary_c_" + tn(dst.dtype()) + "_" + tn(src.dtype())),
                    Math.max(1, n / 4),
                    BinaryOp.ADD.ordinal(),
                    g.ptr(dst, name),
                    g.ptr(src, name),
                    g.ptr(dst, name),
                    n);
            return true;
        }
        int[] shape = dst.shape();
        Desc d = Desc.of(name, shape, dst.strides(), src.strides(), dst.strides());
        g.launch(
                g.kernel(TENSOR, mathType(dst.dtype()) == DType.F32 ? "t_binary_f" : "t_binary_d"),
                n,
                d.struct(),
                BinaryOp.ADD.ordinal(),
                g.ptr(dst, name),
                Gpu.code(dst.dtype()),
                g.ptr(src, name),
                Gpu.code(src.dtype()),
                g.ptr(dst, name),
                Gpu.code(dst.dtype()),
                n);
        return true;
    }

    public static Tensor where(Gpu g, Tensor cond, Tensor a, Tensor b) {
        String op = "where";
        g.check(op, cond);
        g.check(op, a);
        g.check(op, b);
        g.bind();
        int[] shape = Shape.broadcast(op, Shape.broadcast(op, cond.shape(), a.shape()), b.shape());
        DType rt = promote(a.dtype(), b.dtype());
        Tensor out = g.alloc(rt, shape);
        long n = out.numel();
        if (n == 0) return out;
        Desc d = Desc.of(
                op, shape, broadcastStrides(cond, shape), broadcastStrides(a, shape), broadcastStrides(b, shape));
        g.launch(
                g.kernel(TENSOR, "t_where"),
                n,
                d.struct(),
                g.ptr(cond, op),
                Gpu.code(cond.dtype()),
                g.ptr(a, op),
                Gpu.code(a.dtype()),
                g.ptr(b, op),
                Gpu.code(b.dtype()),
                g.ptr(out, op),
                Gpu.code(rt),
                n);
        return out;
    }
}
