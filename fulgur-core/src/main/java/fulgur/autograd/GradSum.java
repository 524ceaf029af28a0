package fulgur.autograd;

import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * The gradient of one tensor while the backward accumulates it. Contributions come as full-size tensors or as
 * slices (the gradient of a {@code narrow} view, see {@link Node.Slice}). Slices go into one buffer the engine
 * allocates: uncovered and not yet written parts of it are zeroed only when the sum is read, so the pieces of a
 * split cost one buffer and one write each. Sums are written in place only into a buffer the engine made and nobody
 * else has seen ({@link #owned}): a backward may hand the same tensor to several inputs, so a contribution itself is
 * never written into.
 */
final class GradSum {
    private Tensor value;
    /** value was allocated here (a slice buffer or a sum) and no one else holds it: safe to add into. */
    private boolean owned;
    /** When ≥ 0, value holds data only at the indices along this axis that {@link #covered} marks; the rest is garbage. */
    private int axis = -1;

    private Coverage covered;

    private GradSum() {}

    /** Adds a full-size contribution {@code g} to the gradient of {@code target}. */
    static void add(Map<Tensor, GradSum> grads, Tensor target, Tensor g, Liveness live) {
        GradSum s = grads.get(target);
        if (s == null) {
            s = new GradSum();
            s.value = g;
            live.hold(g);
            grads.put(target, s);
            return;
        }
        s.addFull(g, live);
    }

    /** Adds {@code g}, the gradient of the slice {@code slice} of {@code target}, to target's gradient. */
    static void addSlice(Map<Tensor, GradSum> grads, Tensor target, Tensor g, Node.Slice slice, Liveness live) {
        int a = slice.axis();
        int start = slice.start();
        int len = g.size(a);
        GradSum s = grads.get(target);
        if (s == null) {
            s = new GradSum();
            s.value = Tensor.empty(g.dtype(), g.device(), slice.full());
            s.owned = true;
            s.axis = a;
            s.covered = new Coverage(slice.full()[a]);
            live.hold(s.value);
            grads.put(target, s);
        } else if (s.value.dtype() != g.dtype() || !s.value.device().equals(g.device())) {
            s.addFull(pad(g, slice.full(), a, start), live); // mixed dtypes: the plain sum promotes
            live.done(g);
            return;
        } else if (!s.owned) {
            Tensor old = s.value;
            s.value = ownedCopy(old);
            s.owned = true;
            live.hold(s.value);
            live.unhold(old);
        }
        if (s.axis >= 0 && s.axis != a) {
            s.settle();
        }
        if (s.axis < 0) {
            Tensor dst = narrow(s.value, a, start, len);
            Backends.of(dst).addInto(dst, g);
            live.done(g);
            return;
        }
        Tensor into = s.value;
        s.covered.forEachRun(start, start + len, (from, to, written) -> {
            Tensor dst = narrow(into, a, from, to - from);
            Tensor src = narrow(g, a, from - start, to - from);
            if (written) {
                Backends.of(dst).addInto(dst, src);
            } else {
                dst.copyFrom(src);
            }
        });
        live.done(g);
        s.covered.add(start, start + len);
        if (s.covered.full()) {
            s.axis = -1;
            s.covered = null;
        }
    }

    /** The sum so far, for a backward to fold into its own gradient (null unless contiguous). */
    Tensor partial() {
        settle();
        return value.isContiguous() ? value : null;
    }

    /** Makes {@code total}, which a backward computed as the sum so far plus its own contribution, the sum. */
    void replace(Tensor total, Liveness live) {
        Tensor old = value;
        value = total;
        owned = false; // the backward may have returned the same tensor for another input
        live.hold(total);
        live.unhold(old);
    }

    /** The sum of every contribution (zeros where none wrote); the caller then owns it (see {@link Liveness#unhold}). */
    Tensor finish() {
        settle();
        return value;
    }

    private void addFull(Tensor g, Liveness live) {
        settle();
        if (owned && value.dtype() == g.dtype() && value.device().equals(g.device())) {
            Backends.of(value).addInto(value, g);
        } else {
            Tensor old = value;
            value = add(old, g);
            owned = true;
            live.hold(value);
            live.unhold(old);
        }
        live.done(g);
    }

    /** Zeroes the parts of a slice buffer no slice wrote. */
    private void settle() {
        if (axis < 0) {
            return;
        }
        covered.forEachRun(0, covered.size(), (from, to, written) -> {
            if (!written) {
                Tensor gap = narrow(value, axis, from, to - from);
                Backends.of(gap).fill(gap, 0);
            }
        });
        axis = -1;
        covered = null;
    }

    private static Tensor ownedCopy(Tensor t) {
        Tensor c = Tensor.empty(t.dtype(), t.device(), t.shape());
        c.copyFrom(t);
        return c;
    }

    /** a + b with broadcasting and dtype promotion, outside the graph (both on one device). */
    static Tensor add(Tensor a, Tensor b) {
        if (!a.device().equals(b.device())) {
            throw new IllegalArgumentException(
                    "gradient: " + a.describe() + " and " + b.describe() + " are on different devices");
        }
        return Backends.of(a).binary(BinaryOp.ADD, a, b);
    }

    /** [start, start + len) on axis of t, as a view. */
    private static Tensor narrow(Tensor t, int axis, int start, int len) {
        int[] s = t.shape();
        s[axis] = len;
        return Tensor.view(t.storage(), t.dtype(), s, t.strides(), t.offset() + start * t.stride(axis));
    }

    /** A zero tensor of {@code full} shape with g at [start, start + g's size) on axis. */
    private static Tensor pad(Tensor g, int[] full, int axis, int start) {
        Tensor z = Tensor.zeros(g.dtype(), g.device(), full);
        narrow(z, axis, start, g.size(axis)).copyFrom(g);
        return z;
    }
}
