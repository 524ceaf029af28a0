package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/** Fused optimizer work over whole parameters: the AdamW update, the sum of squares that gradient clipping needs. */
public final class CpuOptim {
    private CpuOptim() {}

    private static final VectorSpecies<Float> F = CpuElementwise.F;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    public static void adamw(
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            Tensor schedule,
            double lrScale,
            double beta1,
            double beta2,
            double eps,
            double wd) {
        double[] sc = schedule(schedule, param);
        adamw(param, grad, m, v, sc[0] * lrScale, beta1, beta2, eps, wd, sc[1], sc[2]);
    }

    /** Elements per partial sum of {@link #sumOfSquares}: fixed, so the sum's bits do not depend on the threads. */
    static final int SQUARES_CHUNK = 1 << 16;

    /**
     * Σ x² over every element of {@code t}, accumulated in f64: f32 in one vectorised pass (each chunk of
     * {@link #SQUARES_CHUNK} elements summed on its own, in lanes, then the chunks in order), other dtypes through f64.
     *
     * @param t a host tensor, any dtype and layout
     * @return the sum of squares
     */
    public static double sumOfSquares(Tensor t) {
        String op = "sum of squares";
        Tensor x = CpuSupport.contiguousAs(t, t.dtype() == DType.F64 ? DType.F64 : DType.F32);
        long n = x.numel();
        if (n == 0) {
            return 0;
        }
        MemorySegment s = x.hostSegment(op);
        long off = x.offset();
        int chunks = (int) ((n + SQUARES_CHUNK - 1) / SQUARES_CHUNK);
        double[] part = new double[chunks];
        boolean f64 = x.dtype() == DType.F64;
        Parallel.forChunks(chunks, Math.min(chunks, 4 * Parallel.threads()), (a, b) -> {
            for (int c = a; c < b; c++) {
                long i0 = (long) c * SQUARES_CHUNK;
                long i1 = Math.min(n, i0 + SQUARES_CHUNK);
                part[c] = f64 ? squaresF64(s, off + i0, off + i1) : squaresF32(s, off + i0, off + i1);
            }
        });
        double sum = 0;
        for (double p : part) {
            sum += p;
        }
        return sum;
    }

    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;

    /** Σ x² of f32 elements [i0, i1) in f64: each float vector widened to two double vectors. */
    private static double squaresF32(MemorySegment s, long i0, long i1) {
        DoubleVector a0 = DoubleVector.zero(D), a1 = a0, a2 = a0, a3 = a0;
        long i = i0;
        int step = 2 * F.length();
        for (; i + step <= i1; i += step) {
            FloatVector x = FloatVector.fromMemorySegment(F, s, i * 4, NO);
            FloatVector y = FloatVector.fromMemorySegment(F, s, (i + F.length()) * 4, NO);
            DoubleVector x0 = (DoubleVector) x.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector x1 = (DoubleVector) x.convertShape(VectorOperators.F2D, D, 1);
            DoubleVector y0 = (DoubleVector) y.convertShape(VectorOperators.F2D, D, 0);
            DoubleVector y1 = (DoubleVector) y.convertShape(VectorOperators.F2D, D, 1);
            a0 = x0.fma(x0, a0);
            a1 = x1.fma(x1, a1);
            a2 = y0.fma(y0, a2);
            a3 = y1.fma(y1, a3);
        }
        double sum = Lanes.sum(a0.add(a1).add(a2.add(a3)));
        for (; i < i1; i++) {
            double v = s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            sum = Math.fma(v, v, sum);
        }
        return sum;
    }

    /** Σ x² of f64 elements [i0, i1). */
    private static double squaresF64(MemorySegment s, long i0, long i1) {
        DoubleVector a0 = DoubleVector.zero(D), a1 = a0;
        long i = i0;
        int step = 2 * D.length();
        for (; i + step <= i1; i += step) {
            DoubleVector x = DoubleVector.fromMemorySegment(D, s, i * 8, NO);
            DoubleVector y = DoubleVector.fromMemorySegment(D, s, (i + D.length()) * 8, NO);
            a0 = x.fma(x, a0);
            a1 = y.fma(y, a1);
        }
        double sum = Lanes.sum(a0.add(a1));
        for (; i < i1; i++) {
            double v = s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            sum = Math.fma(v, v, sum);
        }
        return sum;
    }

    /** The three schedule values (lr, 1 − β₁ᵗ, 1 − β₂ᵗ), checked. */
    static double[] schedule(Tensor schedule, Tensor param) {
        if (schedule.dtype() != DType.F64
                || schedule.numel() != 3
                || !schedule.device().equals(param.device())) {
            throw new IllegalArgumentException(
                    "adamw: schedule must be an f64 tensor [3] on " + param.device() + ", got " + schedule.describe());
        }
        double[] sc = schedule.toDoubleArray();
        if (!(sc[1] > 0 && sc[1] <= 1 && sc[2] > 0 && sc[2] <= 1)) {
            throw new IllegalArgumentException("adamw: bias corrections must be in (0, 1], got " + sc[1] + " and "
                    + sc[2] + " (was the step count advanced?)");
        }
        return sc;
    }

    private static void adamw(
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            double lr,
            double beta1,
            double beta2,
            double eps,
            double wd,
            double bc1,
            double bc2) {
        String op = "adamw";
        for (Tensor t : new Tensor[] {grad, m, v}) {
            if (!t.sameShape(param)) {
                throw new IllegalArgumentException(
                        op + ": " + t.describe() + " does not match parameter " + param.describe());
            }
        }
        if (!param.isContiguous() || !m.isContiguous() || !v.isContiguous()) {
            throw new IllegalArgumentException(op + ": parameter and moments must be contiguous");
        }
        double decay = 1 - lr * wd;
        double stepSize = lr / bc1;
        double invSqrtBc2 = 1 / Math.sqrt(bc2);
        long n = param.numel();
        if (param.dtype() == DType.F32 && m.dtype() == DType.F32 && v.dtype() == DType.F32) {
            Tensor g = CpuSupport.contiguousAs(grad, DType.F32);
            MemorySegment ps = param.hostSegment(op);
            MemorySegment gs = g.hostSegment(op);
            MemorySegment ms = m.hostSegment(op);
            MemorySegment vs = v.hostSegment(op);
            long po = param.offset();
            long go = g.offset();
            long mo = m.offset();
            long vo = v.offset();
            CpuElementwise.forChunks(n, (a, b) -> {
                float b1 = (float) beta1;
                float b2 = (float) beta2;
                float c1 = (float) (1 - beta1);
                float c2 = (float) (1 - beta2);
                float dec = (float) decay;
                float ss = (float) stepSize;
                float ib = (float) invSqrtBc2;
                float e = (float) eps;
                long i = a;
                long bound = a + F.loopBound(b - a);
                for (; i < bound; i += F.length()) {
                    FloatVector p = FloatVector.fromMemorySegment(F, ps, (po + i) * 4, NO);
                    FloatVector gr = FloatVector.fromMemorySegment(F, gs, (go + i) * 4, NO);
                    FloatVector mm = FloatVector.fromMemorySegment(F, ms, (mo + i) * 4, NO)
                            .mul(b1)
                            .add(gr.mul(c1));
                    FloatVector vv = FloatVector.fromMemorySegment(F, vs, (vo + i) * 4, NO)
                            .mul(b2)
                            .add(gr.mul(gr).mul(c2));
                    FloatVector denom = vv.sqrt().mul(ib).add(e);
                    p = p.mul(dec).sub(mm.div(denom).mul(ss));
                    mm.intoMemorySegment(ms, (mo + i) * 4, NO);
                    vv.intoMemorySegment(vs, (vo + i) * 4, NO);
                    p.intoMemorySegment(ps, (po + i) * 4, NO);
                }
                for (; i < b; i++) {
                    float gr = gs.getAtIndex(ValueLayout.JAVA_FLOAT, go + i);
                    float mm = b1 * ms.getAtIndex(ValueLayout.JAVA_FLOAT, mo + i) + c1 * gr;
                    float vv = b2 * vs.getAtIndex(ValueLayout.JAVA_FLOAT, vo + i) + c2 * gr * gr;
                    float p = ps.getAtIndex(ValueLayout.JAVA_FLOAT, po + i) * dec
                            - ss * mm / ((float) Math.sqrt(vv) * ib + e);
                    ms.setAtIndex(ValueLayout.JAVA_FLOAT, mo + i, mm);
                    vs.setAtIndex(ValueLayout.JAVA_FLOAT, vo + i, vv);
                    ps.setAtIndex(ValueLayout.JAVA_FLOAT, po + i, p);
                }
            });
            return;
        }
        // Generic path (f64 parameters, or other dtypes with f32 moments): scalar double math.
        double[] gv = grad.toDoubleArray();
        for (long i = 0; i < n; i++) {
            double gr = gv[(int) i];
            double mm = beta1 * m.getFlat(i) + (1 - beta1) * gr;
            double vv = beta2 * v.getFlat(i) + (1 - beta2) * gr * gr;
            double p = param.getFlat(i) * decay - stepSize * mm / (Math.sqrt(vv) * invSqrtBc2 + eps);
            m.setFlat(i, mm);
            v.setFlat(i, vv);
            param.setFlat(i, p);
        }
    }
}
