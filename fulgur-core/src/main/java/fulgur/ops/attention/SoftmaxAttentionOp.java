package fulgur.ops.attention;

import fulgur.tensor.Tensor;

/**
 * How a model's softmax-attention layers compute attention: {@link #LOCAL} on the whole sequence at hand, or with
 * keys and values gathered from sequence-parallel ranks (fulgur-dist's LASP-2H implements this interface).
 */
@FunctionalInterface
public interface SoftmaxAttentionOp {

    /**
     * q {@code [B,T,H,d]}, k {@code [B,T,Hkv,d]}, v {@code [B,T,Hkv,dv]} → {@code [B,T,H,dv]}: softmax(scale·q kᵀ) v
     * per head (query head h reads key/value head h / (H/Hkv)), causal over whole-sequence positions when asked.
     */
    Tensor apply(Tensor q, Tensor k, Tensor v, double scale, boolean causal);

    /** The tiled single-device op. */
    SoftmaxAttentionOp LOCAL = (q, k, v, scale, causal) -> SoftmaxAttention.attention(q, k, v, scale, causal, 0);
}
