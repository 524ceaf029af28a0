package fulgur.nn;

import fulgur.ops.Norms;
import fulgur.tensor.Tensor;

/** LayerNorm over the last axis with optional affine weight (1) and bias (0). */
public final class LayerNorm extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final double eps;

    /**
     * A layer norm over the last dimension.
     *
     * @param dim the size of the last dimension
     * @param eps added to the variance
     * @param affine whether it learns a gain (init 1) and a bias (init 0)
     */
    public LayerNorm(int dim, double eps, boolean affine) {
        this.eps = eps;
        this.weight = affine ? param("weight", Tensor.ones(dim), false) : null;
        this.bias = affine ? param("bias", Tensor.zeros(dim), false) : null;
    }

    /**
     * (x − mean) / √(var + ε) over the last dimension, then the gain and bias.
     *
     * @param x [..., dim]
     * @return [..., dim]
     */
    public Tensor forward(Tensor x) {
        return Norms.layerNorm(x, weight == null ? null : weight.value(), bias == null ? null : bias.value(), eps);
    }
}
