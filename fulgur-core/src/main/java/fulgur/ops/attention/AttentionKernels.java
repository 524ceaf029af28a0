package fulgur.ops.attention;

import fulgur.tensor.Tensor;

/**
 * The kernels of softmax attention on one device (flash-attention's forward and backward: the score matrix never
 * materialised, the backward recomputing the probabilities from the saved row log-sum-exp). {@link SoftmaxAttention}
 * keeps the autograd logic and validates the arguments. Registered per device kind in {@link fulgur.backend.Kernels};
 * without one, {@link SoftmaxAttention#attention} runs {@link SoftmaxAttention#naive}, composed from backend ops.
 *
 * <p>Arguments: q {@code [B, Tq, H, d]}, k {@code [B, Tk, Hkv, d]}, v {@code [B, Tk, Hkv, dv]} on the kernel's device,
 * one floating dtype (not f64: the op keeps f64 on its composed reference), any strides. Grouped heads: query head h reads
 * key/value head {@code h / (H / Hkv)}. Causal mask in whole-sequence positions: query i sits at {@code queryOffset + i}
 * and sees key j iff {@code j ≤ queryOffset + i}. Packed variable-length sequences: with {@code cuSeqlensQ} and
 * {@code cuSeqlensK} (batch 1, N + 1 offsets each) query sequence n attends only key sequence n, and its causal
 * mask is aligned at the end (query i of a sequence of Lq queries over Lk keys sits at {@code Lk − Lq + i});
 * queryOffset is then 0.
 */
public interface AttentionKernels {

    /**
     * Whether this device's kernels take these arguments (dtype, head dims, scale; {@code backward}: the backward will
     * be needed too); where they do not, the op runs its composed form. Every argument combination by default.
     */
    default boolean supports(Tensor q, Tensor k, Tensor v, double scale, boolean backward) {
        return true;
    }

    /**
     * Returns {o [B, Tq, H, dv] (f32, or the inputs' dtype), lse [B, H, Tq] f32}: the output and each query row's
     * log Σ_j exp(scale·q·k_j) over the keys it sees (−∞ for a row that sees none, whose output is 0).
     */
    Tensor[] forward(
            Tensor q,
            Tensor k,
            Tensor v,
            double scale,
            boolean causal,
            long queryOffset,
            int[] cuSeqlensQ,
            int[] cuSeqlensK);

    /** {dq, dk, dv} from the forward's inputs, its output and lse, and the output's gradient dOut (any floating dtype). */
    Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor lse,
            Tensor dOut,
            double scale,
            boolean causal,
            long queryOffset,
            int[] cuSeqlensQ,
            int[] cuSeqlensK);
}
