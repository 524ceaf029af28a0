package fulgur.ops.lightning;

import fulgur.tensor.Tensor;

/**
 * Kernels of TransNormerLLM's token mixer after its fused projection ({@link NormLinearAttention}): from qkvu
 * [B, T, 4·H·d] (q, k, v and the gate u side by side along the last axis), y = rmsNorm(o)·gain ⊙ u with
 * o = lightning(silu(q), silu(k), v). The kernels read the parts where they lie, and the backward writes the gradient
 * of qkvu into one buffer, the SiLU's derivative applied on the way, so no part is copied into it. Registered per
 * device in {@link fulgur.backend.Kernels}; without one (or when {@link #supports} says no) the op composes the
 * slices, SiLU, {@link Lightning#chunked} and {@link fulgur.ops.Norms#rmsNormGated}.
 */
public interface NormLinearAttentionKernels {

    /** Whether these kernels take qkvu with {@code heads} heads (dtype, head size, layout). */
    boolean supports(Tensor qkvu, int heads);

    /**
     * {y [B, T, H·d] in qkvu's dtype, then what the backward needs (the kernels' choice, handed back to
     * {@link #backward} as they are)}. λ_h = exp(−slopes[h]); gain [H·d] or null.
     */
    Tensor[] forward(Tensor qkvu, int heads, double[] slopes, double scale, Tensor gain, double eps);

    /** {d qkvu, d gain (null without a gain)} for the gradient dy of y; {@code saved} is forward's result after y. */
    Tensor[] backward(Tensor qkvu, int heads, double[] slopes, double scale, Tensor gain, Tensor[] saved, Tensor dy);
}
