package fulgur.backend.cpu;

import fulgur.backend.BinaryOp;
import fulgur.backend.UnaryOp;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Elementwise kernels: f32 runs through the Vector API, f64 and the rarer functions through scalar loops. */
final class CpuElementwise {
    private CpuElementwise() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();
    private static final int CHUNK = 1 << 14;

    // ------------------------------------------------------------------ unary

    static Tensor unary(UnaryOp op, Tensor x, double p) {
        CpuSupport.checkCpu("unary " + op, x);
        DType mt = CpuSupport.mathType(x.dtype());
        Tensor in = CpuSupport.contiguousAs(x, mt);
        Tensor out = CpuSupport.alloc(mt, x.shape());
        long n = x.numel();
        MemorySegment s = in.hostSegment("unary");
        MemorySegment d = out.hostSegment("unary");
        long so = in.offset();
        forChunks(n, (a, b) -> {
            if (mt == DType.F32) {
                unaryF32(op, s, so + a, d, a, b - a, (float) p);
            } else {
                for (long i = a; i < b; i++) {
                    d.setAtIndex(
                            ValueLayout.JAVA_DOUBLE,
                            i,
                            ScalarMath.apply(op, s.getAtIndex(ValueLayout.JAVA_DOUBLE, so + i), p));
                }
            }
        });
        return CpuSupport.convert(out, x.dtype());
    }

    static Tensor unaryBackward(UnaryOp op, Tensor x, Tensor y, Tensor dy, double p) {
        CpuSupport.checkCpu("unaryBackward " + op, x);
        if (!x.sameShape(dy)) {
            throw new IllegalArgumentException("unaryBackward " + op + ": gradient shape " + Shape.str(dy.shape())
                    + " does not match input " + x.describe());
        }
        DType mt = CpuSupport.mathType(x.dtype());
        Tensor xs = CpuSupport.contiguousAs(x, mt);
        Tensor ys = y == null ? null : CpuSupport.contiguousAs(y, mt);
        Tensor gs = CpuSupport.contiguousAs(dy, mt);
        Tensor out = CpuSupport.alloc(mt, x.shape());
        MemorySegment xm = xs.hostSegment("unaryBackward");
        MemorySegment ym = ys == null ? null : ys.hostSegment("unaryBackward");
        MemorySegment gm = gs.hostSegment("unaryBackward");
        MemorySegment d = out.hostSegment("unaryBackward");
        long xo = xs.offset();
        long yo = ys == null ? 0 : ys.offset();
        long go = gs.offset();
        forChunks(x.numel(), (a, b) -> {
            if (mt == DType.F32) {
                backwardF32(op, xm, xo + a, gm, go + a, d, a, b - a, (float) p);
                return;
            }
            for (long i = a; i < b; i++) {
                double xv = get(xm, mt, xo + i);
                double yv = ym != null ? get(ym, mt, yo + i) : ScalarMath.apply(op, xv, p);
                set(d, mt, i, get(gm, mt, go + i) * ScalarMath.derivative(op, xv, yv, p));
            }
        });
        return CpuSupport.convert(out, x.dtype().isFloating() ? x.dtype() : mt);
    }

    /**
     * f32 kernels: one small loop per function, so that C2 inlines and intrinsifies every vector operation. Exp-based
     * functions use {@link Lanes#exp}; log, tanh, softplus, log-sigmoid, sin and cos take the scalar path on purpose:
     * the Vector API's lanes for them give other bits once compiled than in the interpreter, Math's do not.
     */
    private static void unaryF32(UnaryOp op, MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long done = switch (op) {
            case NEG -> uNeg(s, so, d, doff, n, p);
            case EXP -> uExp(s, so, d, doff, n, p);
            case SQRT -> uSqrt(s, so, d, doff, n, p);
            case RSQRT -> uRsqrt(s, so, d, doff, n, p);
            case ABS -> uAbs(s, so, d, doff, n, p);
            case SILU -> uSilu(s, so, d, doff, n, p);
            case SIGMOID -> uSigmoid(s, so, d, doff, n, p);
            case RELU -> uRelu(s, so, d, doff, n, p);
            case SQUARE -> uSquare(s, so, d, doff, n, p);
            case RECIPROCAL -> uReciprocal(s, so, d, doff, n, p);
            case ADD_SCALAR -> uAddScalar(s, so, d, doff, n, p);
            case MUL_SCALAR -> uMulScalar(s, so, d, doff, n, p);
            default -> 0;
        };
        for (long i = done; i < n; i++) {
            float x = s.getAtIndex(ValueLayout.JAVA_FLOAT, so + i);
            d.setAtIndex(ValueLayout.JAVA_FLOAT, doff + i, (float) ScalarMath.apply(op, x, p));
        }
    }

    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);
    private static final FloatVector ZERO = FloatVector.zero(F);

    private static FloatVector sigmoid(FloatVector x) {
        return ONE.div(ONE.add(Lanes.exp(x.neg())));
    }

    private static long uNeg(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.neg()).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uExp(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (Lanes.exp(x)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uSqrt(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.sqrt()).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uRsqrt(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (ONE.div(x.sqrt())).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uAbs(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.abs()).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uSilu(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.mul(sigmoid(x))).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uSigmoid(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (sigmoid(x)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uRelu(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.max(ZERO).blend(x, x.test(VectorOperators.IS_NAN))).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uSquare(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.mul(x)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uReciprocal(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (ONE.div(x)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uAddScalar(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.add(p)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long uMulScalar(MemorySegment s, long so, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, (so + i) * 4, NO);
            (x.mul(p)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static void backwardF32(
            UnaryOp op,
            MemorySegment xm,
            long xo,
            MemorySegment gm,
            long go,
            MemorySegment d,
            long doff,
            long n,
            float p) {
        long done = switch (op) {
            case SILU -> bSilu(xm, xo, gm, go, d, doff, n, p);
            case SIGMOID -> bSigmoid(xm, xo, gm, go, d, doff, n, p);
            case EXP -> bExp(xm, xo, gm, go, d, doff, n, p);
            case MUL_SCALAR -> bMulScalar(xm, xo, gm, go, d, doff, n, p);
            case ADD_SCALAR -> bAddScalar(xm, xo, gm, go, d, doff, n, p);
            case NEG -> bNeg(xm, xo, gm, go, d, doff, n, p);
            case SQUARE -> bSquare(xm, xo, gm, go, d, doff, n, p);
            default -> 0;
        };
        for (long i = done; i < n; i++) {
            double x = xm.getAtIndex(ValueLayout.JAVA_FLOAT, xo + i);
            double y = ScalarMath.apply(op, x, p);
            d.setAtIndex(ValueLayout.JAVA_FLOAT, doff + i, (float)
                    (gm.getAtIndex(ValueLayout.JAVA_FLOAT, go + i) * ScalarMath.derivative(op, x, y, p)));
        }
    }

    private static long bSilu(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g.mul(sigmoid(x).mul(ONE.add(x.mul(ONE.sub(sigmoid(x))))))).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long bSigmoid(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g.mul(sigmoid(x).mul(ONE.sub(sigmoid(x))))).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long bExp(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g.mul(Lanes.exp(x))).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long bMulScalar(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g.mul(p)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long bAddScalar(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long bNeg(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g.neg()).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    private static long bSquare(
            MemorySegment xm, long xo, MemorySegment gm, long go, MemorySegment d, long doff, long n, float p) {
        long bound = F.loopBound(n);
        for (long i = 0; i < bound; i += F.length()) {
            FloatVector x = FloatVector.fromMemorySegment(F, xm, (xo + i) * 4, NO);
            FloatVector g = FloatVector.fromMemorySegment(F, gm, (go + i) * 4, NO);
            (g.mul(x).mul(2f)).intoMemorySegment(d, (doff + i) * 4, NO);
        }
        return bound;
    }

    // ------------------------------------------------------------------ binary

    static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        String name = "binary " + op;
        CpuSupport.checkCpu(name, a);
        CpuSupport.checkCpu(name, b);
        int[] shape = Shape.broadcast(name, a.shape(), b.shape());
        DType rt = CpuSupport.promote(a.dtype(), b.dtype());
        DType mt = CpuSupport.mathType(rt);
        Tensor am = a.dtype() == mt ? a : CpuSupport.contiguousAs(a, mt);
        Tensor bm = b.dtype() == mt ? b : CpuSupport.contiguousAs(b, mt);
        Tensor out = CpuSupport.alloc(mt, shape);
        long[] sa = broadcastStrides(am, shape);
        long[] sb = broadcastStrides(bm, shape);
        Strided it = Strided.of(shape, sa, sb, Shape.contiguousStrides(shape));
        MemorySegment as = am.hostSegment(name);
        MemorySegment bs = bm.hostSegment(name);
        MemorySegment d = out.hostSegment(name);
        long ao = am.offset();
        long bo = bm.offset();
        long ias = it.innerStride(0);
        long ibs = it.innerStride(1);
        forRuns(name, it, (o0, o1, o2, n) -> binaryRun(op, mt, as, ao + o0, ias, bs, bo + o1, ibs, d, o2, 1, n));
        return CpuSupport.convert(out, rt);
    }

    /**
     * dst += src in place for f32 or f64 tensors of one dtype and shape (any strides); false, doing nothing, for
     * anything else. The sums round exactly as {@link #binary} ADD rounds them.
     */
    static boolean addInto(Tensor dst, Tensor src) {
        String name = "addInto";
        CpuSupport.checkCpu(name, dst);
        CpuSupport.checkCpu(name, src);
        DType mt = dst.dtype();
        if (src.dtype() != mt || (mt != DType.F32 && mt != DType.F64) || !dst.sameShape(src)) {
            return false;
        }
        if (dst.numel() == 0) {
            return true;
        }
        int[] shape = dst.shape();
        Strided it = Strided.of(shape, dst.strides(), src.strides(), dst.strides());
        MemorySegment d = dst.hostSegment(name);
        MemorySegment s = src.hostSegment(name);
        long dOff = dst.offset();
        long sOff = src.offset();
        long ids = it.innerStride(0);
        long iss = it.innerStride(1);
        forRuns(
                name,
                it,
                (o0, o1, o2, n) ->
                        binaryRun(BinaryOp.ADD, mt, d, dOff + o0, ids, s, sOff + o1, iss, d, dOff + o0, ids, n));
        return true;
    }

    /** One contiguous-in-the-loop run of a strided iteration: element offsets of its three operands and its length. */
    @FunctionalInterface
    private interface Run {
        void at(long o0, long o1, long o2, long n);
    }

    /** Runs every inner run of {@code it} in parallel: chunks of the single run when there is one row, else rows. */
    private static void forRuns(String name, Strided it, Run run) {
        int inner = it.inner();
        long i0 = it.innerStride(0);
        long i1 = it.innerStride(1);
        long i2 = it.innerStride(2);
        long rows = it.rows();
        if (rows == 1) {
            forChunks(inner, (x0, x1) -> run.at(x0 * i0, x0 * i1, x0 * i2, x1 - x0));
        } else {
            Parallel.forRange(Shape.toInt(name, rows), Math.max(1, CHUNK / Math.max(1, inner)), (r0, r1) -> {
                long[] offs = new long[3];
                for (int r = r0; r < r1; r++) {
                    it.offsets(r, offs);
                    run.at(offs[0], offs[1], offs[2], inner);
                }
            });
        }
    }

    /** Strides of t viewed with the broadcast shape (0 on broadcast dimensions). */
    static long[] broadcastStrides(Tensor t, int[] shape) {
        int[] ts = t.shape();
        long[] st = t.strides();
        long[] r = new long[shape.length];
        int lead = shape.length - ts.length;
        for (int i = 0; i < ts.length; i++) {
            r[lead + i] = ts[i] == 1 && shape[lead + i] != 1 ? 0 : st[i];
        }
        return r;
    }

    private static void binaryRun(
            BinaryOp op,
            DType mt,
            MemorySegment a,
            long ao,
            long as,
            MemorySegment b,
            long bo,
            long bs,
            MemorySegment d,
            long doff,
            long ds,
            long n) {
        if (mt == DType.F32 && vectorBinary(op) && (as == 1 || as == 0) && (bs == 1 || bs == 0) && ds == 1) {
            binaryF32(op, a, ao, as, b, bo, bs, d, doff, n);
            return;
        }
        if (mt == DType.F32) {
            for (long i = 0; i < n; i++) {
                float x = a.getAtIndex(ValueLayout.JAVA_FLOAT, ao + i * as);
                float y = b.getAtIndex(ValueLayout.JAVA_FLOAT, bo + i * bs);
                d.setAtIndex(ValueLayout.JAVA_FLOAT, doff + i * ds, (float) ScalarMath.apply(op, x, y));
            }
        } else {
            for (long i = 0; i < n; i++) {
                double x = a.getAtIndex(ValueLayout.JAVA_DOUBLE, ao + i * as);
                double y = b.getAtIndex(ValueLayout.JAVA_DOUBLE, bo + i * bs);
                d.setAtIndex(ValueLayout.JAVA_DOUBLE, doff + i * ds, ScalarMath.apply(op, x, y));
            }
        }
    }

    private static boolean vectorBinary(BinaryOp op) {
        return switch (op) {
            case ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM -> true;
            default -> false;
        };
    }

    /**
     * Vector loops for contiguous or broadcast (stride 0) f32 operands: one loop per case, because a loop that picks
     * "the broadcast vector or a loaded one" each iteration makes C2 box every vector (gigabytes of garbage when a
     * gradient is scaled by a one-element tensor).
     */
    private static void binaryF32(
            BinaryOp op,
            MemorySegment a,
            long ao,
            long as,
            MemorySegment b,
            long bo,
            long bs,
            MemorySegment d,
            long doff,
            long n) {
        long i = 0;
        long bound = F.loopBound(n);
        if (as != 0 && bs == 0) {
            FloatVector y = FloatVector.broadcast(F, b.getAtIndex(ValueLayout.JAVA_FLOAT, bo));
            for (; i < bound; i += F.length()) {
                apply(op, FloatVector.fromMemorySegment(F, a, (ao + i) * 4, NO), y)
                        .intoMemorySegment(d, (doff + i) * 4, NO);
            }
        } else if (as == 0 && bs != 0) {
            FloatVector x = FloatVector.broadcast(F, a.getAtIndex(ValueLayout.JAVA_FLOAT, ao));
            for (; i < bound; i += F.length()) {
                apply(op, x, FloatVector.fromMemorySegment(F, b, (bo + i) * 4, NO))
                        .intoMemorySegment(d, (doff + i) * 4, NO);
            }
        } else if (as != 0) {
            for (; i < bound; i += F.length()) {
                apply(
                                op,
                                FloatVector.fromMemorySegment(F, a, (ao + i) * 4, NO),
                                FloatVector.fromMemorySegment(F, b, (bo + i) * 4, NO))
                        .intoMemorySegment(d, (doff + i) * 4, NO);
            }
        }
        for (; i < n; i++) {
            float x = a.getAtIndex(ValueLayout.JAVA_FLOAT, ao + i * as);
            float y = b.getAtIndex(ValueLayout.JAVA_FLOAT, bo + i * bs);
            d.setAtIndex(ValueLayout.JAVA_FLOAT, doff + i, (float) ScalarMath.apply(op, x, y));
        }
    }

    private static FloatVector apply(BinaryOp op, FloatVector x, FloatVector y) {
        return switch (op) {
            case ADD -> x.add(y);
            case SUB -> x.sub(y);
            case MUL -> x.mul(y);
            case DIV -> x.div(y);
            case MAXIMUM -> x.lanewise(VectorOperators.MAX, y);
            case MINIMUM -> x.lanewise(VectorOperators.MIN, y);
            default -> throw new IllegalStateException(op.name());
        };
    }

    // ------------------------------------------------------------------ helpers

    interface LongRange {
        void run(long start, long end);
    }

    /** Splits [0, n) into chunks of about 16K elements spread over the pool. */
    static void forChunks(long n, LongRange body) {
        long chunks = (n + CHUNK - 1) / CHUNK;
        if (chunks <= 1) {
            if (n > 0) {
                body.run(0, n);
            }
            return;
        }
        Parallel.forRange(
                Shape.toInt("chunks", chunks),
                1,
                (c0, c1) -> body.run((long) c0 * CHUNK, Math.min(n, (long) c1 * CHUNK)));
    }

    static double get(MemorySegment s, DType t, long i) {
        return t == DType.F32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT, i) : s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
    }

    static void set(MemorySegment s, DType t, long i, double v) {
        if (t == DType.F32) {
            s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) v);
        } else {
            s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
        }
    }
}
