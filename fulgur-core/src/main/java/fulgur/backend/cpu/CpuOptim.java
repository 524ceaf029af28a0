package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** Fused optimizer updates over whole parameters. */
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
