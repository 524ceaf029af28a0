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

    /** @param decay whether weight decay applies (false for norms, biases and other 1-D parameters) */
    public Parameter(Tensor init, boolean decay) {
        this.value = adoptLeaf(init);
        this.decay = decay;
    }

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

    public Tensor value() {
        return value;
    }

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

    public boolean decay() {
        return decay;
    }

    public int[] shape() {
        return value.shape();
    }

    public long numel() {
        return value.numel();
    }

    /** Copies new values in (same shape; any dtype), keeping the storage. */
    public void load(Tensor src, String name) {
        if (!value.sameShape(src)) {
            throw new IllegalArgumentException("parameter '" + name + "': expected shape " + Shape.str(value.shape()) + ", got " + Shape.str(src.shape()));
        }
        value.copyFrom(src);
    }

    /** Replaces the value with a tensor of another dtype or device (e.g. moving a model to a GPU). */
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
     */
    public void relayout(Tensor view) {
        if (!view.sameShape(value) || view.dtype() != value.dtype() || !view.device().equals(value.device())) {
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

    public void release() {
        value.close();
    }
}
