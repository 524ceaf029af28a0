package fulgur.ops.lightning;

import fulgur.tensor.Tensor;

/**
 * The kernels of lightning attention on one device ({@link Lightning#chunked} keeps the autograd logic and validates
 * the arguments before calling them). Registered per device kind in {@link fulgur.backend.Kernels}; without one,
 * {@link Lightning} runs its composed form (gated linear attention with a constant decay, built from backend ops).
 *
 * <p>Layouts: q, k {@code [B, T, H, dk]}, v {@code [B, T, H, dv]} on the kernel's device, any strides; slopes [H],
 * λ_h = exp(−slopes[h]); states {@code [N, H, dk, dv]}, N = B, or the number of packed sequences when
 * {@code cuSeqlens = [0, c₁, …, T]} is given (batch 1, the state reset at every boundary). {@code blockSize} is a
 * tuning hint (results must not depend on it).
 */
public interface LightningKernels {

    /**
     * o_t = scale·Σ_{s≤t} λ^{t−s}(q_t·k_s) v_s (+ the decayed initial state). Returns one flat tensor: the output
     * [B, T, H, dv] followed, when {@code wantFinalState}, by the final state [N, H, dk, dv]. Its dtype is the kernel's
     * choice (the op converts the output to q's dtype); with a final state it is f32 (f64 for f64 inputs).
     */
    Tensor forward(
            Tensor q,
            Tensor k,
            Tensor v,
            double[] slopes,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int blockSize,
            int[] cuSeqlens);

    /**
     * Gradients {dq, dk, dv, dInitialState (null without an initial state)} from the gradient of {@link #forward}'s
     * packed result (same length; any floating dtype).
     */
    Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            double[] slopes,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int blockSize,
            int[] cuSeqlens,
            Tensor packedGrad);

    /**
     * Decoding: consumes the T tokens of q, k, v, advances {@code state} [B, H, dk, dv] (f32 or f64, contiguous) in place
     * and returns the outputs [B, T, H, dv] in the state's dtype or in q's (the op converts them to q's). No gradients.
     */
    Tensor recurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state);
}
