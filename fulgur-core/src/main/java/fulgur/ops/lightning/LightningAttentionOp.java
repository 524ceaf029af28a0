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

    /**
     * {@link #apply} continuing from {@code initialState} {@code [B,H,dk,dv]} (null: zeros) and, when asked for, giving
     * the final state (null where this op does not hold it, e.g. on a rank that is not the last of a split sequence).
     * Gradients flow to the initial state and from the final state: what a sequence trained in chunks carries from one
     * chunk to the next. Ops that cannot carry states refuse a state.
     */
    default Lightning.Result applyWithStates(
            Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState, boolean wantFinalState) {
        if (initialState == null && !wantFinalState) {
            return new Lightning.Result(apply(q, k, v, slopes, scale), null);
        }
        throw new UnsupportedOperationException(
                getClass().getSimpleName() + " does not carry recurrent states from one call to the next");
    }

    /** The chunked single-device op. */
    LightningAttentionOp LOCAL = new LightningAttentionOp() {
        @Override
        public Tensor apply(Tensor q, Tensor k, Tensor v, double[] slopes, double scale) {
            return applyWithStates(q, k, v, slopes, scale, null, false).output();
        }

        @Override
        public Lightning.Result applyWithStates(
                Tensor q,
                Tensor k,
                Tensor v,
                double[] slopes,
                double scale,
                Tensor initialState,
                boolean wantFinalState) {
            return Lightning.chunked(
                    q, k, v, slopes, scale, initialState, wantFinalState, LightningChunked.DEFAULT_BLOCK, null);
        }

        @Override
        public String toString() {
            return "LightningAttentionOp.LOCAL";
        }
    };
}
