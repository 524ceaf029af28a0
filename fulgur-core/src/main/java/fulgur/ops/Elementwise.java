package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.UnaryOp;
import fulgur.tensor.Tensor;

/** Arithmetic with broadcasting and its gradients. */
public final class Elementwise {
    private Elementwise() {}

    static void checkSameDevice(String op, Tensor a, Tensor b) {
        a.checkAlive(op);
        b.checkAlive(op);
        if (!a.device().equals(b.device())) {
            throw new IllegalArgumentException(
                    op + ": operands on different devices: " + a.describe() + " and " + b.describe());
        }
    }

    static Tensor binary(BinaryOp op, Tensor a, Tensor b) {
        checkSameDevice(op.name().toLowerCase(), a, b);
        return Backends.of(a).binary(op, a, b);
    }

    public static Tensor add(Tensor a, Tensor b) {
        Tensor out = binary(BinaryOp.ADD, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record(
                "add", out, new Tensor[] {a, b}, g -> new Tensor[] {Reductions.sumTo(g, sa), Reductions.sumTo(g, sb)});
    }

    public static Tensor sub(Tensor a, Tensor b) {
        Tensor out = binary(BinaryOp.SUB, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("sub", out, new Tensor[] {a, b}, g ->
                new Tensor[] {Reductions.sumTo(g, sa), Reductions.sumTo(neg(g), sb)});
    }

    public static Tensor mul(Tensor a, Tensor b) {
        Tensor out = binary(BinaryOp.MUL, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("mul", out, new Tensor[] {a, b}, g -> {
            if (a.requiresGrad() && b.requiresGrad() && a.sameShape(b) && a.sameShape(g)) {
                GluKernels k = fulgur.backend.Kernels.find(GluKernels.class, a.device());
                Tensor[] d = k == null ? null : k.mulBackward(a, b, g); // both products in one pass over g
                if (d != null) {
                    return d;
                }
            }
            return new Tensor[] {
                a.requiresGrad() ? Reductions.sumTo(mul(g, b), sa) : null,
                b.requiresGrad() ? Reductions.sumTo(mul(g, a), sb) : null
            };
        });
    }

    public static Tensor div(Tensor a, Tensor b) {
        Tensor out = binary(BinaryOp.DIV, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("div", out, new Tensor[] {a, b}, g -> new Tensor[] {
            a.requiresGrad() ? Reductions.sumTo(div(g, b), sa) : null,
            b.requiresGrad() ? Reductions.sumTo(neg(div(mul(g, out), b)), sb) : null
        });
    }

    /** a^b elementwise (both broadcast); gradient to b uses log(a), defined for a > 0. */
    public static Tensor pow(Tensor a, Tensor b) {
        Tensor out = binary(BinaryOp.POW, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("pow", out, new Tensor[] {a, b}, g -> new Tensor[] {
            a.requiresGrad() ? Reductions.sumTo(mul(g, mul(b, binary(BinaryOp.POW, a, addScalar(b, -1)))), sa) : null,
            b.requiresGrad() ? Reductions.sumTo(mul(g, mul(out, log(a))), sb) : null
        });
    }

    public static Tensor maximum(Tensor a, Tensor b) {
        return extremum("maximum", BinaryOp.MAXIMUM, BinaryOp.GE, a, b);
    }

    public static Tensor minimum(Tensor a, Tensor b) {
        return extremum("minimum", BinaryOp.MINIMUM, BinaryOp.LE, a, b);
    }

    /** max or min; the gradient goes to a where {@code aWins}(a, b) holds, else to b. */
    private static Tensor extremum(String name, BinaryOp op, BinaryOp aWins, Tensor a, Tensor b) {
        Tensor out = binary(op, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record(name, out, new Tensor[] {a, b}, g -> {
            Tensor pickA = binary(aWins, a, b);
            return new Tensor[] {Reductions.sumTo(mul(g, pickA), sa), Reductions.sumTo(mul(g, rsub(pickA, 1)), sb)};
        });
    }

    /** c − x. */
    static Tensor rsub(Tensor x, double c) {
        return addScalar(neg(x), c);
    }

    /** Comparison giving 1 where true and 0 elsewhere (no gradient). */
    public static Tensor compare(BinaryOp op, Tensor a, Tensor b) {
        return binary(op, a, b);
    }

    static Tensor unary(UnaryOp op, Tensor x, double p) {
        x.checkAlive(op.name().toLowerCase());
        Tensor out = Backends.of(x).unary(op, x, p);
        boolean usesY = switch (op) {
            case EXP, SQRT, RSQRT, SIGMOID, TANH, RECIPROCAL -> true;
            default -> false;
        };
        return Autograd.record(op.name().toLowerCase(), out, new Tensor[] {x}, g ->
                new Tensor[] {Backends.of(x).unaryBackward(op, x, usesY ? out : null, g, p)});
    }

    public static Tensor addScalar(Tensor x, double c) {
        return unary(UnaryOp.ADD_SCALAR, x, c);
    }

    public static Tensor mulScalar(Tensor x, double c) {
        return unary(UnaryOp.MUL_SCALAR, x, c);
    }

    public static Tensor powScalar(Tensor x, double p) {
        return unary(UnaryOp.POW, x, p);
    }

    public static Tensor neg(Tensor x) {
        return unary(UnaryOp.NEG, x, 0);
    }

    public static Tensor exp(Tensor x) {
        return unary(UnaryOp.EXP, x, 0);
    }

    public static Tensor log(Tensor x) {
        return unary(UnaryOp.LOG, x, 0);
    }

    public static Tensor sqrt(Tensor x) {
        return unary(UnaryOp.SQRT, x, 0);
    }

    public static Tensor rsqrt(Tensor x) {
        return unary(UnaryOp.RSQRT, x, 0);
    }

    public static Tensor abs(Tensor x) {
        return unary(UnaryOp.ABS, x, 0);
    }

    public static Tensor square(Tensor x) {
        return unary(UnaryOp.SQUARE, x, 0);
    }

    public static Tensor reciprocal(Tensor x) {
        return unary(UnaryOp.RECIPROCAL, x, 0);
    }

    public static Tensor sin(Tensor x) {
        return unary(UnaryOp.SIN, x, 0);
    }

    public static Tensor cos(Tensor x) {
        return unary(UnaryOp.COS, x, 0);
    }
}
