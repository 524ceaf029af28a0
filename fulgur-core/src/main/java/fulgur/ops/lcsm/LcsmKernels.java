package fulgur.ops.lcsm;

import fulgur.tensor.Tensor;

/**
 * The kernels of the LCSM scan on one device ({@link Lcsm#scan} keeps the autograd logic and validates the
 * arguments): m_t = exp(logO_t) ⊙ m_{t−1} + e_t ⊙ (1 i_tᵀ), y_t = Σ_k s_t ⊙ m_t. Registered per device kind in
 * {@link fulgur.backend.Kernels}; without one, {@link Lcsm#scan} runs {@link LcsmComposed}.
 *
 * <p>Arguments: i [B, T, d]; e, logO, s [B, T, k, d] (possibly broadcast views: stride-0 axes); m0 [B, k, d] or null
 * (zero); all of i's dtype, on the kernel's device.
 */
public interface LcsmKernels {

    /**
     * Whether this device's kernels take these arguments (dtype, expand dim); where they do not, the op runs its
     * composed form. Every argument combination by default.
     */
    default boolean supports(Tensor i, Tensor e, Tensor logO, Tensor s) {
        return true;
    }

    /** Returns one flat tensor in i's dtype: y [B, T, d] then m_T [B, k, d]. */
    Tensor forward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0);

    /**
     * Gradients {di [B, T, d], de, dlogO, ds (each [B, T, k, d], not reduced over broadcast axes), dm0 (null when m0 is
     * null)} from the gradient of the packed result.
     */
    Tensor[] backward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor packedGrad);
}
