package fulgur.nn;

import fulgur.ops.Norms;
import fulgur.tensor.Tensor;

/** LayerNorm over the last axis with optional affine weight (1) and bias (0). */
public final class LayerNorm extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final double eps;

    public LayerNorm(int dim, double eps, boolean affine) {
        this.eps = eps;
        this.weight = affine ? param("weight", Tensor.ones(dim), false) : null;
        this.bias = affine ? param("bias", Tensor.zeros(dim), false) : null;
    }

    public Tensor forward(Tensor x) {
        return Norms.layerNorm(x, weight == null ? null : weight.value(), bias == null ? null : bias.value(), eps);
    }
}
