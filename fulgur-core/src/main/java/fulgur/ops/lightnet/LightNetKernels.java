package fulgur.ops.lightnet;

import fulgur.tensor.Tensor;

/**
 * The fused kernels of LightNet's additive recurrence on one device ({@link LightNet#apply} keeps the autograd logic
 * and validates the arguments): per key channel, z_t = logaddexp(z_{t−1}, k_t), S_t = e^{z_{t−1}−z_t} S_{t−1} +
 * e^{k_t−z_t} v_t, o_t = q_t S_t. Registered per device kind in {@link fulgur.backend.Kernels}; without one,
 * {@link LightNet#apply} runs {@link LightNet#chunked}, composed from backend ops.
 *
 * <p>Arguments: q, k {@code [B, T, H, dk]}, v {@code [B, T, H, dv]}, contiguous, one floating dtype, on the kernel's
 * device; an optional initial state s0 {@code [B, H, dk, dv]} and z0 {@code [B, H, dk]} (both or neither, f32 or f64).
 */
public interface LightNetKernels {

    /**
     * Whether this device's kernels take these arguments (dtypes, head dims); where they do not, the op runs its
     * composed form. Every argument combination by default.
     */
    default boolean supports(Tensor q, Tensor k, Tensor v) {
        return true;
    }

    /**
     * Returns one flat tensor: output [B, T, H, dv] followed, when {@code wantFinal}, by the final S [B, H, dk, dv] and
     * the final z [B, H, dk]. Its dtype is the kernel's choice (the op converts the output to q's dtype); with the final
     * state it is f32 (f64 for f64 inputs).
     */
    Tensor forward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, boolean wantFinal);

    /**
     * Gradients {dq, dk, dv, ds0, dz0 (null without an initial state)} from the gradient of {@link #forward}'s packed
     * result (same length; any floating dtype).
     */
    Tensor[] backward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, boolean wantFinal, Tensor packedGrad);
}
