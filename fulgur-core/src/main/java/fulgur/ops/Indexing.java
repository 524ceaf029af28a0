package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/** Embedding lookup, gather/scatter, index select, where, masked fill, cumulative sums and causal masks. */
public final class Indexing {
    private Indexing() {}

    /** Checks that no input was freed, naming the op otherwise. */
    static void checkAlive(String op, Tensor... ts) {
        for (Tensor t : ts) {
            if (t != null) {
                t.checkAlive(op);
            }
        }
    }

    /** Rows of weight [V, D] at integer ids → [..., D]; the gradient scatter-adds into the weight. */
    public static Tensor embedding(Tensor weight, Tensor ids) {
        weight.checkAlive("embedding");
        ids.checkAlive("embedding");
        Tensor out = Backends.of(weight).embedding(weight, ids);
        int[] shape = weight.shape();
        return Autograd.record("embedding", out, new Tensor[] {weight}, g -> {
            Tensor rows = Views.reshape(g, Shape.toInt("embedding", ids.numel()), shape[1]);
            return new Tensor[] {
                Views.cast(
                        Backends.of(g)
                                .indexAdd(shape, 0, Views.reshape(ids, Shape.toInt("embedding", ids.numel())), rows),
                        weight.dtype())
            };
        });
    }

    public static Tensor gather(Tensor x, int axis, Tensor index) {
        checkAlive("gather", x, index);
        int a = Shape.axis("gather", axis, x.ndim());
        Tensor out = Backends.of(x).gather(x, a, index);
        int[] shape = x.shape();
        return Autograd.record("gather", out, new Tensor[] {x}, g ->
                new Tensor[] {Backends.of(x).scatterAdd(shape, a, index, g)});
    }

    /** base + src scatter-added at index along axis. */
    public static Tensor scatterAdd(Tensor base, int axis, Tensor index, Tensor src) {
        checkAlive("scatterAdd", base, index, src);
        int a = Shape.axis("scatterAdd", axis, base.ndim());
        Tensor added = Backends.of(base).scatterAdd(base.shape(), a, index, src);
        Tensor out = Backends.of(base).binary(fulgur.backend.BinaryOp.ADD, base, added);
        return Autograd.record("scatterAdd", out, new Tensor[] {base, src}, g ->
                new Tensor[] {g, Backends.of(g).gather(g, a, index)});
    }

    public static Tensor indexSelect(Tensor x, int axis, Tensor index) {
        checkAlive("indexSelect", x, index);
        int a = Shape.axis("indexSelect", axis, x.ndim());
        Tensor out = Backends.of(x).indexSelect(x, a, index);
        int[] shape = x.shape();
        return Autograd.record("indexSelect", out, new Tensor[] {x}, g ->
                new Tensor[] {Backends.of(x).indexAdd(shape, a, index, g)});
    }

    /**
     * base + src's slices added at the positions of a 1-D integer index along axis (torch.index_add; repeated
     * positions accumulate). src has base's shape except size index.numel() along axis. The gradient of src
     * selects the same slices of the upstream gradient.
     */
    public static Tensor indexAdd(Tensor base, int axis, Tensor index, Tensor src) {
        checkAlive("indexAdd", base, index, src);
        int a = Shape.axis("indexAdd", axis, base.ndim());
        if (index.ndim() != 1 || index.dtype().isFloating()) {
            throw new IllegalArgumentException("indexAdd: index must be a 1-D integer tensor, got " + index.describe());
        }
        int[] expect = base.shape();
        expect[a] = index.size(0);
        if (!java.util.Arrays.equals(expect, src.shape())) {
            throw new IllegalArgumentException("indexAdd: src " + src.describe() + " must have shape "
                    + Shape.str(expect) + " (base " + base.describe() + " with the index length along axis " + a + ")");
        }
        Tensor added = Backends.of(base).indexAdd(base.shape(), a, index, src);
        Tensor out = Backends.of(base).binary(fulgur.backend.BinaryOp.ADD, base, added);
        return Autograd.record("indexAdd", out, new Tensor[] {base, src}, g ->
                new Tensor[] {g, Views.cast(Backends.of(g).indexSelect(g, a, index), src.dtype())});
    }

    /**
     * Positions (i64) of the k largest entries along the last axis, largest first; ties go to the lower position.
     * Not differentiable (gather the values with {@link #gather} to get gradients). Built from argmax and where, so
     * every backend has it.
     */
    public static Tensor topkIndices(Tensor x, int k) {
        checkAlive("topkIndices", x);
        if (x.ndim() < 1) {
            throw new IllegalArgumentException("topkIndices: x must have at least one axis, got " + x.describe());
        }
        int n = x.size(x.ndim() - 1);
        if (k < 1 || k > n) {
            throw new IllegalArgumentException(
                    "topkIndices: k must be in [1, " + n + "] for " + x.describe() + ", got " + k);
        }
        int last = x.ndim() - 1;
        fulgur.backend.Backend be = Backends.of(x);
        Tensor positions = Tensor.arange(n).to(x.device());
        Tensor minusInf = Tensor.full(x.dtype(), x.device(), Double.NEGATIVE_INFINITY, 1);
        Tensor rest = x.detach();
        Tensor[] picks = new Tensor[k];
        for (int j = 0; j < k; j++) {
            picks[j] = be.argReduce(true, rest, last, true);
            if (j + 1 < k) {
                Tensor hit = be.binary(fulgur.backend.BinaryOp.EQ, positions, picks[j]);
                rest = be.where(hit, minusInf, rest);
            }
        }
        return k == 1 ? picks[0] : Views.concat(last, picks);
    }

    /** cond ≠ 0 ? a : b with broadcasting. */
    public static Tensor where(Tensor cond, Tensor a, Tensor b) {
        checkAlive("where", cond, a, b);
        Tensor out = Backends.of(a).where(cond, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("where", out, new Tensor[] {a, b}, g -> {
            Tensor zero = Tensor.zeros(g.dtype(), g.device(), 1);
            return new Tensor[] {
                Reductions.sumTo(Backends.of(g).where(cond, g, zero), sa),
                Reductions.sumTo(Backends.of(g).where(cond, zero, g), sb)
            };
        });
    }

    /** x with {@code value} where mask ≠ 0. */
    public static Tensor maskedFill(Tensor x, Tensor mask, double value) {
        return where(mask, Tensor.full(x.dtype(), x.device(), value, 1), x);
    }

    public static Tensor cumsum(Tensor x, int axis) {
        checkAlive("cumsum", x);
        int a = Shape.axis("cumsum", axis, x.ndim());
        Tensor out = Backends.of(x).cumsum(x, a, false);
        return Autograd.record("cumsum", out, new Tensor[] {x}, g ->
                new Tensor[] {Backends.of(g).cumsum(g, a, true)});
    }

    /** [T, T] mask with 1 above the diagonal (the positions a causal model may not see). */
    public static Tensor causalMask(int t) {
        double[] m = new double[t * t];
        for (int i = 0; i < t; i++) {
            for (int j = i + 1; j < t; j++) {
                m[i * t + j] = 1;
            }
        }
        return Tensor.of(DType.F32, m, t, t);
    }
}
