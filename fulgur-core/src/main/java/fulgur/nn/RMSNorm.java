package fulgur.nn;

import fulgur.ops.Norms;
import fulgur.tensor.Tensor;

/** RMSNorm over the last axis, with a gain initialised to 1, or without one (TNL's SRMSNorm). */
public final class RMSNorm extends Module {
    private final Parameter gain;
    private final double eps;

    /**
     * An RMS norm over the last dimension.
     *
     * @param dim the size of the last dimension
     * @param eps added to the mean square
     * @param withGain whether it learns a gain (init 1)
     */
    public RMSNorm(int dim, double eps, boolean withGain) {
        this.eps = eps;
        this.gain = withGain ? param("weight", Tensor.ones(dim), false) : null;
    }

    /** {@return the gain's current value, or null for a norm without one} */
    public Tensor gainValue() {
        return gain == null ? null : gain.value();
    }

    /** {@return the ε added to the mean square} */
    public double eps() {
        return eps;
    }

    /**
     * x / √(mean(x²) + ε) over the last dimension, times the gain.
     *
     * @param x [..., dim]
     * @return [..., dim]
     */
    public Tensor forward(Tensor x) {
        return Norms.rmsNorm(x, gain == null ? null : gain.value(), eps);
    }

    /**
     * A pre-norm block's residual sum and this norm of it ({@link Norms#addRmsNorm}: one pass where the device fuses
     * it).
     *
     * @param x the residual stream [..., dim]
     * @param y what a sublayer adds to it, x's shape and dtype
     * @return {x + y, the norm of x + y}
     */
    public Tensor[] forwardSum(Tensor x, Tensor y) {
        return Norms.addRmsNorm(x, y, gain == null ? null : gain.value(), eps);
    }

    /**
     * The norm of x times act(z) ({@link Norms#rmsNormGated}: one pass where the device fuses it).
     *
     * @param x [..., dim]
     * @param z the gate [..., dim]
     * @param act the gate's activation
     * @return [..., dim]
     */
    public Tensor forwardGated(Tensor x, Tensor z, fulgur.ops.GatedNormKernels.Gate act) {
        return Norms.rmsNormGated(x, gain == null ? null : gain.value(), eps, z, act);
    }
}
