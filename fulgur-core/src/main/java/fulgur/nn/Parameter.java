package fulgur.nn;

import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/**
 * A trainable tensor of a module. Its storage lives in the root scope (never freed by a step's scope) until the
 * module is closed; the optimizer updates it in place.
 */
public final class Parameter {
    private Tensor value;
    private final boolean decay;

    /**
     * A parameter holding {@code init}, which it adopts into the root scope and marks as requiring gradients.
     *
     * @param init the initial value, a floating tensor
     * @param decay whether weight decay applies (false for norms, biases and other 1-D parameters)
     */
    public Parameter(Tensor init, boolean decay) {
        this.value = adoptLeaf(init);
        this.decay = decay;
    }

    /**
     * A parameter holding {@code init}, with weight decay when it has two or more dimensions.
     *
     * @param init the initial value, a floating tensor
     */
    public Parameter(Tensor init) {
        this(init, init.ndim() >= 2);
    }

    private static Tensor adoptLeaf(Tensor t) {
        Tensor leaf = t.isLeaf() && !t.requiresGrad() ? t : t.detach();
        if (!leaf.isContiguous()) {
            leaf = leaf.contiguous().detach();
        }
        Scope.root().adopt(leaf);
        return leaf.requiresGrad(leaf.dtype().isFloating()); // int8 weights are not trained
    }

    /** {@return the value, a leaf requiring gradients} */
    public Tensor value() {
        return value;
    }

    /** {@return the accumulated gradient, or null} */
    public Tensor grad() {
        return value.grad();
    }

    /** Drops the gradient and frees its storage now (gradients of parameters live in the root scope). */
    public void zeroGrad() {
        Tensor g = value.grad();
        value.zeroGrad();
        if (g != null && g.storage() != value.storage() && Scope.root().owns(g.storage())) {
            Scope.root().release(g); // not close(): the root scope would keep the freed storage on its list
        }
    }

    /** {@return whether weight decay applies} */
    public boolean decay() {
        return decay;
    }

    /** {@return the value's shape} */
    public int[] shape() {
        return value.shape();
    }

    /** {@return the value's element count} */
    public long numel() {
        return value.numel();
    }

    /**
     * Copies new values in (same shape; any dtype), keeping the storage.
     *
     * @param src the new values
     * @param name the name to show in the error
     * @throws IllegalArgumentException when the shapes differ
     */
    public void load(Tensor src, String name) {
        if (!value.sameShape(src)) {
            throw new IllegalArgumentException("parameter '" + name + "': expected shape " + Shape.str(value.shape())
                    + ", got " + Shape.str(src.shape()));
        }
        value.copyFrom(src);
    }

    /**
     * Replaces the value with a tensor of another dtype or device (e.g. moving a model to a GPU).
     *
     * @param next the new value, adopted like the initial one
     */
    public void replace(Tensor next) {
        Tensor old = value;
        value = adoptLeaf(next);
        if (old.storage() != value.storage()) {
            old.close();
        }
    }

    /**
     * Keeps the same values in another memory layout: {@code view} (same shape, dtype and device, e.g. the transpose of
     * a contiguous transposed copy) becomes the value, which is then not contiguous, and the old storage is freed.
     *
     * @param view the same values in their new layout
     * @throws IllegalArgumentException when {@code view}'s shape, dtype or device differs from the value's
     */
    public void relayout(Tensor view) {
        if (!view.sameShape(value)
                || view.dtype() != value.dtype()
                || !view.device().equals(value.device())) {
            throw new IllegalArgumentException("relayout: expected " + value.describe() + ", got " + view.describe());
        }
        Tensor old = value;
        Tensor leaf = view.detach();
        Scope.root().adopt(leaf);
        value = leaf.requiresGrad(old.requiresGrad());
        if (old.storage() != value.storage()) {
            old.close();
        }
    }

    /** Frees the value's storage. */
    public void release() {
        value.close();
    }
}
