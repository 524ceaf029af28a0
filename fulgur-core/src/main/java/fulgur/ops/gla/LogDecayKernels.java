package fulgur.ops.gla;

import fulgur.tensor.Tensor;

/**
 * The kernels of {@link LogDecay#gate} on one device: from a forget gate's pre-activation f [..., D] and an optional
 * per-channel lower bound β [D] in [0, 1), the log decay g = log(β + (1 − β) σ(f)) / τ (f32, f64 for f64 f) and the key
 * k = 1 − e^g (f's dtype) in one pass, and their backward. Registered per device kind in {@link fulgur.backend.Kernels};
 * without one {@link LogDecay#gate} composes them from elementwise ops.
 *
 * <p>Arguments (validated by the op): f floating, contiguous, on the kernel's device; β [D] of any floating dtype or
 * null; τ &gt; 0.
 */
public interface LogDecayKernels {

    /** Whether this device's kernels take these arguments; the op composes the gate otherwise. */
    default boolean supports(Tensor f, Tensor beta) {
        return true;
    }

    /** {g, k}. */
    Tensor[] forward(Tensor f, Tensor beta, double tau);

    /**
     * {df (f's dtype), dβ (β's dtype; null without β)} from the gradients of g and of k, either of which may be null
     * (no gradient reached it).
     */
    Tensor[] backward(Tensor f, Tensor beta, double tau, Tensor dg, Tensor dk);
}
