package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Kernels of RMSNorm followed by a gate ({@link Norms#rmsNormGated}, fla's {@code FusedRMSNormGated} and
 * {@code rms_norm_swish_gate_linear}): y = x / √(mean(x²) + ε) ⊙ gain ⊙ act(z) in one pass over x and z, and its
 * backward in one pass (the gain's gradient by column partials), so neither the normalised x nor act(z) is stored.
 * Registered per device in {@link fulgur.backend.Kernels}; without one the op composes {@link Norms#rmsNorm} and the
 * gate. Arguments (validated by the op): x and z of one shape [..., D] and one floating dtype, gain [D] or null, on the
 * kernel's device.
 */
public interface GatedNormKernels {

    /** The gate's activation: none (y = norm(x)·z), SiLU (fla's swish gate), sigmoid (MiniMax's output gate). */
    enum Gate {
        NONE,
        SILU,
        SIGMOID
    }

    /** Whether this device's kernels take these arguments; the op composes the norm and the gate otherwise. */
    default boolean supports(Tensor x, Tensor z) {
        return true;
    }

    /** {y (x's dtype), rstd [rows] (f32, f64 for f64 x)}. */
    Tensor[] forward(Tensor x, Tensor gain, Tensor z, Gate act, double eps);

    /** {dx, d gain (null without a gain), dz} for the gradient dy of y, from the forward's rstd. */
    Tensor[] backward(Tensor x, Tensor gain, Tensor z, Gate act, Tensor rstd, Tensor dy);
}
