package fulgur.ops.attention;

import fulgur.tensor.Tensor;

/**
 * The kernels of decoding against a paged key/value cache ({@link PagedKvCache}): one new query token per sequence
 * attends to that sequence's cached keys and values where they lie, in fixed-size blocks of a shared pool named by a
 * per-sequence block table, so a step copies nothing. Registered per device kind in {@link fulgur.backend.Kernels};
 * where {@link fulgur.backend.Kernels#find} gives none (or {@link #supports} refuses), {@link PagedKvCache} gathers
 * each sequence's blocks and runs {@link SoftmaxAttention}.
 *
 * <pre>
 *   q              [N, H, D]                      one new token per sequence
 *   kCache, vCache [numBlocks, blockSize, Hkv, D] token t of sequence n in block blockTable[n, t / blockSize],
 *                                                 row t % blockSize
 *   blockTable     i32 [N, maxBlocks]
 *   seqLens        i32 [N]                        tokens cached per sequence, the new token's included (≥ 1)
 *   → o            [N, H, D] in q's dtype
 * </pre>
 *
 * Grouped-query attention: query head h reads key/value head {@code h / (H / Hkv)}. The new token sees every cached
 * token of its sequence. {@link PagedDecodeShape} checks the shapes.
 */
public interface PagedAttentionKernels {

    /** Whether this device's kernels take these arguments (dtypes, head dim, layout); metadata only. */
    default boolean supports(Tensor q, Tensor kCache, Tensor vCache, double scale) {
        return true;
    }

    /** o [N, H, D] = softmax(scale · q · Kᵀ) · V per sequence and head, over the sequence's first seqLens[n] tokens. */
    Tensor decode(Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale);
}
