package fulgur.ops.lightning;

import fulgur.tensor.Tensor;

/**
 * How a model's lightning-attention layers compute their attention: {@link #LOCAL} on the whole sequence at hand, or
 * over a sequence split across ranks (fulgur-dist's LASP and LASP-2 implement this interface). Models call it once
 * per layer and per forward pass, in layer order.
 */
@FunctionalInterface
public interface LightningAttentionOp {

    /**
     * q, k {@code [B,T,H,dk]} and v {@code [B,T,H,dv]} → o {@code [B,T,H,dv]} with
     * {@code o_t = scale·Σ_{s≤t} λ^{t−s}(q_t·k_s) v_s}, λ_h = exp(−slopes[h]), the sum running over every earlier
     * position of the whole sequence (also those held elsewhere); gradients flow to q, k and v.
     */
    Tensor apply(Tensor q, Tensor k, Tensor v, double[] slopes, double scale);

    /** The chunked single-device op (no initial state). */
    LightningAttentionOp LOCAL = (q, k, v, slopes, scale) ->
            Lightning.chunked(q, k, v, slopes, scale, null, false, LightningChunked.DEFAULT_BLOCK, null).output();
}
