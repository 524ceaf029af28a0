package fulgur.ops.attention;

import fulgur.tensor.Tensor;

/**
 * The keys and values one softmax-attention layer keeps while decoding: contiguous for one sequence ({@link KvCache})
 * or in blocks shared out to many ({@link PagedKvCache}).
 */
public interface KvLayer {

    /**
     * Appends k [B, T, Hkv, D], v [B, T, Hkv, Dv] and returns the causal softmax attention of q [B, T, H, D] over every
     * key of its row, the new queries sitting after the row's earlier tokens. No gradients.
     */
    Tensor attend(Tensor q, Tensor k, Tensor v, double scale);

    /** Tokens held (of the only row; layers of several rows of different lengths refuse). */
    int length();
}
