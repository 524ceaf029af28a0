package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.Arrays;

/** Shape ops: views that share storage (reshape, permute, narrow, expand, ...) and the copies between layouts. */
public final class Views {
    private Views() {}

    /** A new shape with the same elements; -1 infers one dimension. A view when the strides allow, else a copy. */
    public static Tensor reshape(Tensor x, int... newShape) {
        x.checkAlive("reshape");
        int[] shape = inferShape(x, newShape);
        int[] old = x.shape();
        long[] strides = viewStrides(old, x.strides(), shape);
        Tensor out = strides != null
                ? Tensor.view(x.storage(), x.dtype(), shape, strides, x.offset())
                : reshape(contiguousRaw(x), shape).detach();
        return Autograd.record("reshape", out, new Tensor[] {x}, g -> new Tensor[] {reshape(g, old)});
    }

    private static int[] inferShape(Tensor x, int[] newShape) {
        int infer = -1;
        long known = 1;
        for (int i = 0; i < newShape.length; i++) {
            if (newShape[i] == -1) {
                if (infer >= 0) {
                    throw new IllegalArgumentException(
                            "reshape: only one dimension can be -1, got " + Shape.str(newShape));
                }
                infer = i;
            } else if (newShape[i] < 0) {
                throw new IllegalArgumentException(
                        "reshape: invalid dimension " + newShape[i] + " in " + Shape.str(newShape));
            } else {
                known *= newShape[i];
            }
        }
        int[] shape = newShape.clone();
        long n = x.numel();
        if (infer >= 0) {
            if (known == 0 || n % known != 0) {
                throw new IllegalArgumentException(
                        "reshape: cannot infer -1 in " + Shape.str(newShape) + " for " + x.describe());
            }
            shape[infer] = (int) (n / known);
        }
        if (Shape.numel(shape) != n) {
            throw new IllegalArgumentException("reshape: " + x.describe() + " has " + n + " elements, shape "
                    + Shape.str(newShape) + " holds " + Shape.numel(shape));
        }
        return shape;
    }

    /** Strides that view (old shape, old strides) as newShape without copying, or null if impossible. */
    static long[] viewStrides(int[] old, long[] oldStrides, int[] newShape) {
        if (Shape.numel(newShape) == 0) {
            return Shape.contiguousStrides(newShape);
        }
        // Drop size-1 dims, then match groups of old dims that are contiguous among themselves.
        int n = 0;
        int[] os = new int[old.length];
        long[] ost = new long[old.length];
        for (int i = 0; i < old.length; i++) {
            if (old[i] != 1) {
                os[n] = old[i];
                ost[n] = oldStrides[i];
                n++;
            }
        }
        long[] result = new long[newShape.length];
        int oi = 0;
        int ni = 0;
        while (ni < newShape.length) {
            if (newShape[ni] == 1) {
                result[ni] = ni + 1 < newShape.length ? 0 : 1;
                ni++;
                continue;
            }
            if (oi >= n) {
                return null;
            }
            // Take old dims [oi, oj) whose product equals the product of new dims [ni, nj).
            long op = os[oi];
            int oj = oi + 1;
            long np = newShape[ni];
            int nj = ni + 1;
            while (op != np) {
                if (op < np) {
                    if (oj >= n) {
                        return null;
                    }
                    if (ost[oj - 1] != ost[oj] * os[oj]) {
                        return null;
                    }
                    op *= os[oj++];
                } else {
                    if (nj >= newShape.length) {
                        return null;
                    }
                    np *= newShape[nj++];
                }
            }
            for (int k = oi; k < oj - 1; k++) {
                if (ost[k] != ost[k + 1] * os[k + 1]) {
                    return null;
                }
            }
            long stride = ost[oj - 1];
            for (int k = nj - 1; k >= ni; k--) {
                result[k] = stride;
                stride *= newShape[k];
            }
            oi = oj;
            ni = nj;
        }
        if (oi != n) {
            return null;
        }
        // size-1 dims: give them the stride of the next dim times its size (any value is valid).
        for (int k = newShape.length - 1; k >= 0; k--) {
            if (newShape[k] == 1) {
                result[k] = k + 1 < newShape.length ? result[k + 1] * newShape[k + 1] : 1;
            }
        }
        return result;
    }

    public static Tensor permute(Tensor x, int... axes) {
        x.checkAlive("permute");
        int nd = x.ndim();
        if (axes.length != nd) {
            throw new IllegalArgumentException("permute: " + axes.length + " axes given for " + x.describe());
        }
        boolean[] seen = new boolean[nd];
        int[] perm = new int[nd];
        for (int i = 0; i < nd; i++) {
            int a = Shape.axis("permute", axes[i], nd);
            if (seen[a]) {
                throw new IllegalArgumentException("permute: axis " + a + " repeated in " + Arrays.toString(axes));
            }
            seen[a] = true;
            perm[i] = a;
        }
        int[] s = x.shape();
        long[] st = x.strides();
        int[] ns = new int[nd];
        long[] nst = new long[nd];
        int[] inverse = new int[nd];
        for (int i = 0; i < nd; i++) {
            ns[i] = s[perm[i]];
            nst[i] = st[perm[i]];
            inverse[perm[i]] = i;
        }
        Tensor out = Tensor.view(x.storage(), x.dtype(), ns, nst, x.offset());
        return Autograd.record("permute", out, new Tensor[] {x}, g -> new Tensor[] {permute(g, inverse)});
    }

    public static Tensor transpose(Tensor x, int a, int b) {
        int nd = x.ndim();
        int[] perm = new int[nd];
        for (int i = 0; i < nd; i++) {
            perm[i] = i;
        }
        int aa = Shape.axis("transpose", a, nd);
        int bb = Shape.axis("transpose", b, nd);
        perm[aa] = bb;
        perm[bb] = aa;
        return permute(x, perm);
    }

    public static Tensor narrow(Tensor x, int axis, int start, int length) {
        x.checkAlive("narrow");
        int a = Shape.axis("narrow", axis, x.ndim());
        int size = x.size(a);
        if (start < 0 || length < 0 || start + length > size) {
            throw new IllegalArgumentException("narrow: range [" + start + ", " + (start + length) + ") is outside [0, "
                    + size + ") on axis " + a + " of " + x.describe());
        }
        int[] s = x.shape();
        s[a] = length;
        Tensor out = Tensor.view(x.storage(), x.dtype(), s, x.strides(), x.offset() + start * x.stride(a));
        int[] full = x.shape();
        return Autograd.recordSlice("narrow", out, x, a, start, full, g -> new Tensor[] {pad(g, full, a, start)});
    }

    /** A zero tensor of {@code full} shape with g placed at [start, start+len) on axis. */
    public static Tensor pad(Tensor g, int[] full, int axis, int start) {
        Tensor z = Tensor.zeros(g.dtype(), g.device(), full);
        int[] s = full.clone();
        s[axis] = g.size(axis);
        Tensor dst = Tensor.view(z.storage(), z.dtype(), s, z.strides(), z.offset() + start * z.stride(axis));
        dst.copyFrom(g);
        return z;
    }

    public static Tensor select(Tensor x, int axis, int index) {
        int a = Shape.axis("select", axis, x.ndim());
        if (index < 0 || index >= x.size(a)) {
            throw new IndexOutOfBoundsException("select: index " + index + " out of range [0, " + x.size(a)
                    + ") on axis " + a + " of " + x.describe());
        }
        return squeeze(narrow(x, a, index, 1), a);
    }

    /** Broadcasts size-1 dimensions (and new leading ones) to newShape; -1 keeps a dimension. No copy. */
    public static Tensor expand(Tensor x, int... newShape) {
        x.checkAlive("expand");
        int nd = newShape.length;
        int lead = nd - x.ndim();
        if (lead < 0) {
            throw new IllegalArgumentException(
                    "expand: target " + Shape.str(newShape) + " has fewer dimensions than " + x.describe());
        }
        int[] s = x.shape();
        long[] st = x.strides();
        int[] ns = new int[nd];
        long[] nst = new long[nd];
        for (int i = 0; i < nd; i++) {
            int target = newShape[i];
            if (target < -1) {
                throw new IllegalArgumentException(
                        "expand: invalid size " + target + " in " + Shape.str(newShape) + " for " + x.describe());
            }
            if (i < lead) {
                if (target < 0) {
                    throw new IllegalArgumentException("expand: -1 not allowed for new leading dimension " + i);
                }
                ns[i] = target;
                nst[i] = 0;
                continue;
            }
            int cur = s[i - lead];
            if (target == -1 || target == cur) {
                ns[i] = cur;
                nst[i] = st[i - lead];
            } else if (cur == 1) {
                ns[i] = target;
                nst[i] = 0;
            } else {
                throw new IllegalArgumentException("expand: cannot expand " + x.describe() + " to "
                        + Shape.str(newShape) + " (dimension " + i + " is " + cur + ")");
            }
        }
        Tensor out = Tensor.view(x.storage(), x.dtype(), ns, nst, x.offset());
        int[] orig = x.shape();
        return Autograd.record("expand", out, new Tensor[] {x}, g -> new Tensor[] {Reductions.sumTo(g, orig)});
    }

    public static Tensor unsqueeze(Tensor x, int axis) {
        int a = Shape.axis("unsqueeze", axis, x.ndim() + 1);
        int[] s = x.shape();
        int[] ns = new int[s.length + 1];
        for (int i = 0, j = 0; i < ns.length; i++) {
            ns[i] = i == a ? 1 : s[j++];
        }
        return reshape(x, ns);
    }

    public static Tensor squeeze(Tensor x, int axis) {
        int a = Shape.axis("squeeze", axis, x.ndim());
        if (x.size(a) != 1) {
            throw new IllegalArgumentException("squeeze: dimension " + a + " of " + x.describe() + " is not 1");
        }
        int[] s = x.shape();
        int[] ns = new int[s.length - 1];
        for (int i = 0, j = 0; i < s.length; i++) {
            if (i != a) {
                ns[j++] = s[i];
            }
        }
        return reshape(x, ns);
    }

    /** x itself when contiguous, else a contiguous copy (in the graph). */
    public static Tensor contiguous(Tensor x) {
        x.checkAlive("contiguous");
        if (x.isContiguous()) {
            return x;
        }
        return copy(x);
    }

    /** Always a fresh contiguous copy (in the graph). */
    public static Tensor copy(Tensor x) {
        Tensor out = contiguousRaw(x);
        return Autograd.record("copy", out, new Tensor[] {x}, g -> new Tensor[] {g});
    }

    private static Tensor contiguousRaw(Tensor x) {
        Tensor out = Backends.of(x).empty(x.dtype(), x.shape());
        Backends.of(x).copy(x, out);
        return out;
    }

    /** Conversion to another dtype (gradients convert back). */
    public static Tensor cast(Tensor x, DType target) {
        x.checkAlive("to");
        if (x.dtype() == target) {
            return x;
        }
        Tensor out = Backends.of(x).empty(target, x.shape());
        Backends.of(x).copy(x, out);
        DType src = x.dtype();
        if (!target.isFloating() || !src.isFloating()) {
            return out;
        }
        return Autograd.record("to(" + target + ")", out, new Tensor[] {x}, g -> new Tensor[] {cast(g, src)});
    }

    /** Transfer to another device (gradients transfer back). */
    public static Tensor toDevice(Tensor x, Device target) {
        x.checkAlive("to");
        if (x.device().equals(target)) {
            return x;
        }
        Tensor out = Tensor.empty(x.dtype(), target, x.shape());
        if (target.kind() == Device.Kind.CPU) {
            Backends.of(x).copy(x, out);
        } else {
            Backends.of(out).copy(x, out);
        }
        Device src = x.device();
        return Autograd.record("to(" + target + ")", out, new Tensor[] {x}, g -> new Tensor[] {toDevice(g, src)});
    }

    public static Tensor concat(int axis, Tensor... xs) {
        if (xs.length == 0) {
            throw new IllegalArgumentException("concat: needs at least one tensor");
        }
        int a = Shape.axis("concat", axis, xs[0].ndim());
        for (Tensor x : xs) {
            x.checkAlive("concat");
        }
        Tensor out = concatRaw(xs, a);
        int[] sizes = new int[xs.length];
        for (int i = 0; i < xs.length; i++) {
            sizes[i] = xs[i].size(a);
        }
        return Autograd.record("concat", out, xs, g -> {
            Tensor[] parts = new Tensor[xs.length];
            int at = 0;
            for (int i = 0; i < xs.length; i++) {
                parts[i] = narrow(g, a, at, sizes[i]);
                at += sizes[i];
            }
            return parts;
        });
    }

    /** The pieces copied side by side into one new tensor of their device (no graph). */
    private static Tensor concatRaw(Tensor[] xs, int axis) {
        String op = "concat";
        int[] first = xs[0].shape();
        DType dt = xs[0].dtype();
        long total = 0;
        for (Tensor x : xs) {
            int[] s = x.shape();
            if (s.length != first.length || x.dtype() != dt) {
                throw new IllegalArgumentException(
                        op + ": " + x.describe() + " does not match " + xs[0].describe() + " in rank or dtype");
            }
            if (!x.device().equals(xs[0].device())) {
                throw new IllegalArgumentException(
                        op + ": " + x.describe() + " is not on " + xs[0].device() + " with " + xs[0].describe());
            }
            for (int i = 0; i < s.length; i++) {
                if (i != axis && s[i] != first[i]) {
                    throw new IllegalArgumentException(op + ": shapes " + Shape.str(first) + " and " + Shape.str(s)
                            + " differ outside axis " + axis);
                }
            }
            total += s[axis];
        }
        int[] outShape = first.clone();
        outShape[axis] = Shape.toInt(op, total);
        Backend be = Backends.of(xs[0].device());
        Tensor out = be.empty(dt, outShape);
        long at = 0;
        for (Tensor x : xs) {
            int len = x.size(axis);
            if (len > 0) {
                int[] s = outShape.clone();
                s[axis] = len;
                be.copy(x, Tensor.view(out.storage(), dt, s, out.strides(), out.offset() + at * out.stride(axis)));
            }
            at += len;
        }
        return out;
    }

    public static Tensor stack(int axis, Tensor... xs) {
        if (xs.length == 0) {
            throw new IllegalArgumentException("stack: needs at least one tensor");
        }
        int a = Shape.axis("stack", axis, xs[0].ndim() + 1);
        Tensor[] u = new Tensor[xs.length];
        for (int i = 0; i < xs.length; i++) {
            xs[i].checkAlive("stack");
            if (!xs[i].sameShape(xs[0])) {
                throw new IllegalArgumentException(
                        "stack: " + xs[i].describe() + " differs in shape from " + xs[0].describe());
            }
            u[i] = unsqueeze(xs[i], a);
        }
        return concat(a, u);
    }

    /** Splits along axis into pieces of the given sizes (views). */
    public static Tensor[] split(Tensor x, int axis, int... sizes) {
        int a = Shape.axis("split", axis, x.ndim());
        long total = 0;
        for (int s : sizes) {
            total += s;
        }
        if (total != x.size(a)) {
            throw new IllegalArgumentException("split: sizes " + Arrays.toString(sizes) + " sum to " + total + ", axis "
                    + a + " of " + x.describe() + " has " + x.size(a));
        }
        Tensor[] out = new Tensor[sizes.length];
        int at = 0;
        for (int i = 0; i < sizes.length; i++) {
            out[i] = narrow(x, a, at, sizes[i]);
            at += sizes[i];
        }
        return out;
    }

    /** Splits along axis into {@code n} equal pieces. */
    public static Tensor[] chunk(Tensor x, int axis, int n) {
        int a = Shape.axis("chunk", axis, x.ndim());
        if (n <= 0 || x.size(a) % n != 0) {
            throw new IllegalArgumentException(
                    "chunk: axis " + a + " of " + x.describe() + " does not split into " + n + " equal parts");
        }
        int[] sizes = new int[n];
        Arrays.fill(sizes, x.size(a) / n);
        return split(x, a, sizes);
    }
}
