package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.backend.ReduceOp;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/** Sums, means, extrema and log-sum-exp over any set of axes, with gradients. */
public final class Reductions {
    private Reductions() {}

    public static Tensor sum(Tensor x) {
        return reduce(ReduceOp.SUM, x, all(x), false);
    }

    public static Tensor mean(Tensor x) {
        return reduce(ReduceOp.MEAN, x, all(x), false);
    }

    public static Tensor sum(Tensor x, int[] axes, boolean keepDim) {
        return reduce(ReduceOp.SUM, x, axes, keepDim);
    }

    public static Tensor mean(Tensor x, int[] axes, boolean keepDim) {
        return reduce(ReduceOp.MEAN, x, axes, keepDim);
    }

    public static Tensor max(Tensor x, int[] axes, boolean keepDim) {
        return reduce(ReduceOp.MAX, x, axes, keepDim);
    }

    public static Tensor min(Tensor x, int[] axes, boolean keepDim) {
        return reduce(ReduceOp.MIN, x, axes, keepDim);
    }

    public static Tensor logsumexp(Tensor x, int[] axes, boolean keepDim) {
        return reduce(ReduceOp.LOGSUMEXP, x, axes, keepDim);
    }

    public static Tensor argmax(Tensor x, int axis, boolean keepDim) {
        x.checkAlive("argmax");
        return Backends.of(x).argReduce(true, x, Shape.axis("argmax", axis, x.ndim()), keepDim);
    }

    public static Tensor argmin(Tensor x, int axis, boolean keepDim) {
        x.checkAlive("argmin");
        return Backends.of(x).argReduce(false, x, Shape.axis("argmin", axis, x.ndim()), keepDim);
    }

    private static int[] all(Tensor x) {
        int[] a = new int[x.ndim()];
        for (int i = 0; i < a.length; i++) {
            a[i] = i;
        }
        return a;
    }

    public static Tensor reduce(ReduceOp op, Tensor x, int[] axes, boolean keepDim) {
        String name = op.name().toLowerCase();
        x.checkAlive(name);
        int nd = x.ndim();
        boolean[] seen = new boolean[nd];
        int[] norm = new int[axes.length];
        for (int i = 0; i < axes.length; i++) {
            int a = Shape.axis(name, axes[i], nd);
            if (seen[a]) {
                throw new IllegalArgumentException(name + ": axis " + a + " given twice");
            }
            seen[a] = true;
            norm[i] = a;
        }
        java.util.Arrays.sort(norm);
        Tensor out = Backends.of(x).reduce(op, x, norm, keepDim);
        int[] inShape = x.shape();
        int[] kept = inShape.clone();
        for (int a : norm) {
            kept[a] = 1;
        }
        return Autograd.record(name, out, new Tensor[] {x}, g -> {
            Tensor gk = Views.reshape(g, kept);
            Tensor gx = switch (op) {
                case SUM -> Views.expand(gk, inShape);
                case MEAN ->
                    Views.expand(
                            Elementwise.mulScalar(gk, (double) Shape.numel(kept) / Math.max(1, x.numel())), inShape);
                case MAX, MIN -> {
                    // Gradient shared equally among tied extrema.
                    Tensor hit = Elementwise.compare(fulgur.backend.BinaryOp.EQ, x, Views.reshape(out, kept));
                    Tensor count = Backends.of(x).reduce(ReduceOp.SUM, hit, norm, true);
                    yield Elementwise.mul(Elementwise.div(hit, count), gk);
                }
                case LOGSUMEXP -> Elementwise.mul(Elementwise.exp(Elementwise.sub(x, Views.reshape(out, kept))), gk);
            };
            return new Tensor[] {gx};
        });
    }

    /** Sums g over the dimensions that broadcasting added or expanded, giving a tensor of {@code shape}. */
    public static Tensor sumTo(Tensor g, int[] shape) {
        int[] gs = g.shape();
        if (java.util.Arrays.equals(gs, shape)) {
            return g;
        }
        int lead = gs.length - shape.length;
        int count = 0;
        int[] axes = new int[gs.length];
        for (int i = 0; i < gs.length; i++) {
            if (i < lead || (shape[i - lead] == 1 && gs[i] != 1)) {
                axes[count++] = i;
            }
        }
        Tensor s = count == 0 ? g : reduce(ReduceOp.SUM, g, java.util.Arrays.copyOf(axes, count), true);
        return Views.reshape(s, shape);
    }
}
