package fulgur.ops.gla;

import fulgur.tensor.Tensor;

/**
 * The kernels of a whole gated-linear-attention op on one device (fla's {@code chunk_gla} forward and backward and
 * {@code fused_recurrent_gla}): per head, S_t = diag(exp(g_t)) S_{t−1} + k_tᵀ v_t, o_t = scale · q_t S_t.
 * Registered per device kind in {@link fulgur.backend.Kernels}; without one, {@link Gla} runs its composed chunked form
 * (backend ops, with the intra-chunk scores of {@link GlaIntraKernels} where a device has them).
 *
 * <p>Arguments (validated by {@link Gla}): q, k and the log-decay g {@code [B, T, H, dk]} (g ≤ 0, per channel), v
 * {@code [B, T, H, dv]}, on the kernel's device, one floating dtype, any strides; states {@code [N, H, dk, dv]}, N = B, or
 * the number of packed sequences when {@code cuSeqlens = [0, c₁, …, T]} is given (batch 1, the state reset at every
 * boundary). States are f32 (f64 for f64 inputs) whatever the inputs' dtype.
 */
public interface GlaKernels {

    /**
     * Whether this device's kernels take these arguments (dtypes, head dims); where they do not, the op runs its
     * composed form. Every argument combination by default.
     */
    default boolean supports(Tensor q, Tensor k, Tensor v, Tensor g) {
        return true;
    }

    /**
     * Returns one flat tensor: the output o [B, T, H, dv] followed, when {@code wantFinalState}, by the final state
     * [N, H, dk, dv]. Its dtype is the kernel's choice (the op converts the output to q's dtype); with a final state it is
     * f32 (f64 for f64 inputs). {@code initialState} may be null (zero).
     */
    Tensor forward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int[] cuSeqlens);

    /**
     * Gradients {dq, dk, dv, dg, dInitialState (null without an initial state)} from the gradient of {@link #forward}'s
     * packed result (same length; any floating dtype). The forward's arguments are passed again.
     */
    Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int[] cuSeqlens,
            Tensor packedGrad);

    /**
     * Decoding: consumes the T tokens of q, k, v, g, advances {@code state} [B, H, dk, dv] (f32 or f64, contiguous) in
     * place and returns the outputs [B, T, H, dv] (in q's or the state's dtype). No gradients.
     */
    Tensor recurrent(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor state);
}
