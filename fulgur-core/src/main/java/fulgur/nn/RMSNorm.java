package fulgur.nn;

import fulgur.ops.Norms;
import fulgur.tensor.Tensor;

/** RMSNorm over the last axis, with a gain initialised to 1, or without one (TNL's SRMSNorm). */
public final class RMSNorm extends Module {
    private final Parameter gain;
    private final double eps;

    public RMSNorm(int dim, double eps, boolean withGain) {
        this.eps = eps;
        this.gain = withGain ? param("weight", Tensor.ones(dim), false) : null;
    }

    public Tensor forward(Tensor x) {
        return Norms.rmsNorm(x, gain == null ? null : gain.value(), eps);
    }

    /** The norm of x times act(z) ({@link Norms#rmsNormGated}: one pass where the device fuses it). */
    public Tensor forwardGated(Tensor x, Tensor z, fulgur.ops.GatedNormKernels.Gate act) {
        return Norms.rmsNormGated(x, gain == null ? null : gain.value(), eps, z, act);
    }
}
