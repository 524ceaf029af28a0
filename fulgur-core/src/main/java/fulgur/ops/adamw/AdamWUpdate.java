package fulgur.ops.adamw;

import fulgur.autograd.GradMode;
import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.Kernels;
import fulgur.backend.UnaryOp;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.List;

/** The AdamW update of the parameters of one device: the device's {@link AdamWKernels}, or the composed form. */
public final class AdamWUpdate {
    private AdamWUpdate() {}

    public static void apply(List<AdamWKernels.Slot> slots, Tensor schedule, double beta1, double beta2, double eps) {
        if (slots.isEmpty()) {
            return;
        }
        AdamWKernels k = Kernels.find(AdamWKernels.class, schedule.device());
        try (var g = GradMode.noGrad()) {
            if (k != null) {
                k.update(slots, schedule, beta1, beta2, eps);
            } else {
                for (AdamWKernels.Slot s : slots) {
                    composed(s, schedule, beta1, beta2, eps);
                }
            }
        }
    }

    /** The update of one slot from backend ops, in f64 (the schedule's dtype), written back in place. */
    static void composed(AdamWKernels.Slot s, Tensor schedule, double beta1, double beta2, double eps) {
        Tensor p = s.param();
        for (Tensor t : s.copy() == null
                ? new Tensor[] {s.grad(), s.m(), s.v()}
                : new Tensor[] {s.grad(), s.m(), s.v(), s.copy()}) {
            if (!t.sameShape(p)) {
                throw new IllegalArgumentException(
                        "adamw: " + t.describe() + " does not match parameter " + p.describe());
            }
        }
        if (schedule.dtype() != DType.F64 || schedule.numel() != 3) {
            throw new IllegalArgumentException("adamw: schedule must be an f64 tensor [3], got " + schedule.describe());
        }
        Backend be = Backends.of(p);
        Tensor lr = be.unary(UnaryOp.MUL_SCALAR, entry(schedule, 0), s.lrScale());
        Tensor bc1 = entry(schedule, 1);
        Tensor bc2 = entry(schedule, 2);
        Tensor g = s.grad();
        Tensor m = be.binary(
                BinaryOp.ADD, be.unary(UnaryOp.MUL_SCALAR, s.m(), beta1), be.unary(UnaryOp.MUL_SCALAR, g, 1 - beta1));
        Tensor v = be.binary(
                BinaryOp.ADD,
                be.unary(UnaryOp.MUL_SCALAR, s.v(), beta2),
                be.unary(UnaryOp.MUL_SCALAR, be.unary(UnaryOp.SQUARE, g, 0), 1 - beta2));
        Tensor decay = be.unary(UnaryOp.ADD_SCALAR, be.unary(UnaryOp.MUL_SCALAR, lr, -s.weightDecay()), 1);
        Tensor denom = be.unary(UnaryOp.ADD_SCALAR, be.unary(UnaryOp.SQRT, be.binary(BinaryOp.DIV, v, bc2), 0), eps);
        Tensor step = be.binary(BinaryOp.MUL, be.binary(BinaryOp.DIV, lr, bc1), be.binary(BinaryOp.DIV, m, denom));
        Tensor next = be.binary(BinaryOp.SUB, be.binary(BinaryOp.MUL, p, decay), step);
        be.copy(m, s.m());
        be.copy(v, s.v());
        be.copy(next, p);
        if (s.copy() != null) {
            be.copy(p, s.copy());
        }
    }

    /** schedule[i] as a one-element tensor that broadcasts. */
    private static Tensor entry(Tensor schedule, int i) {
        return Tensor.view(
                schedule.storage(),
                schedule.dtype(),
                new int[] {1},
                Shape.contiguousStrides(new int[] {1}),
                schedule.offset() + i);
    }
}
