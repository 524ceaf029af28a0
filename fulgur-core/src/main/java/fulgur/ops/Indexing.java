package fulgur.ops;

import fulgur.autograd.Autograd;
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
        Tensor out = weight.backend().embedding(weight, ids);
        int vocab = weight.size(0);
        return Autograd.record("embedding", out, new Tensor[] {weight},
                g -> new Tensor[] {Views.cast(weight.backend().embeddingBackward(g, ids, vocab), weight.dtype())});
    }

    public static Tensor gather(Tensor x, int axis, Tensor index) {
        checkAlive("gather", x, index);
        int a = Shape.axis("gather", axis, x.ndim());
        Tensor out = x.backend().gather(x, a, index);
        int[] shape = x.shape();
        return Autograd.record("gather", out, new Tensor[] {x}, g -> new Tensor[] {x.backend().scatterAdd(shape, a, index, g)});
    }

    /** base + src scatter-added at index along axis. */
    public static Tensor scatterAdd(Tensor base, int axis, Tensor index, Tensor src) {
        checkAlive("scatterAdd", base, index, src);
        int a = Shape.axis("scatterAdd", axis, base.ndim());
        Tensor added = base.backend().scatterAdd(base.shape(), a, index, src);
        Tensor out = base.backend().binary(fulgur.backend.BinaryOp.ADD, base, added);
        return Autograd.record("scatterAdd", out, new Tensor[] {base, src}, g -> new Tensor[] {g, g.backend().gather(g, a, index)});
    }

    public static Tensor indexSelect(Tensor x, int axis, Tensor index) {
        checkAlive("indexSelect", x, index);
        int a = Shape.axis("indexSelect", axis, x.ndim());
        Tensor out = x.backend().indexSelect(x, a, index);
        int[] shape = x.shape();
        return Autograd.record("indexSelect", out, new Tensor[] {x}, g -> new Tensor[] {x.backend().indexAdd(shape, a, index, g)});
    }

    /** cond ≠ 0 ? a : b with broadcasting. */
    public static Tensor where(Tensor cond, Tensor a, Tensor b) {
        checkAlive("where", cond, a, b);
        Tensor out = a.backend().where(cond, a, b);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("where", out, new Tensor[] {a, b}, g -> {
            Tensor zero = Tensor.zeros(g.dtype(), g.device(), 1);
            return new Tensor[] {
                Reductions.sumTo(g.backend().where(cond, g, zero), sa),
                Reductions.sumTo(g.backend().where(cond, zero, g), sb)};
        });
    }

    /** x with {@code value} where mask ≠ 0. */
    public static Tensor maskedFill(Tensor x, Tensor mask, double value) {
        return where(mask, Tensor.full(x.dtype(), x.device(), value, 1), x);
    }

    public static Tensor cumsum(Tensor x, int axis) {
        checkAlive("cumsum", x);
        int a = Shape.axis("cumsum", axis, x.ndim());
        Tensor out = x.backend().cumsum(x, a, false);
        return Autograd.record("cumsum", out, new Tensor[] {x}, g -> new Tensor[] {g.backend().cumsum(g, a, true)});
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
