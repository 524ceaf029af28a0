package fulgur.ops.attention;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;

/**
 * The sizes of one paged decoding call ({@link PagedAttentionKernels}), checked from the tensors' metadata, and the
 * check of the table's entries once they are on the host.
 */
public record PagedDecodeShape(
        int seqs, int heads, int kvHeads, int headDim, int blockSize, int maxBlocks, int numBlocks) {

    /** Query heads per key/value head. */
    public int group() {
        return heads / kvHeads;
    }

    /** The shape of a call, or an {@link IllegalArgumentException} naming the first argument that is wrong. */
    public static PagedDecodeShape of(
            String op, Tensor q, Tensor kCache, Tensor vCache, Tensor blockTable, Tensor seqLens, double scale) {
        if (q == null || kCache == null || vCache == null || blockTable == null || seqLens == null) {
            throw new IllegalArgumentException(op + ": q, kCache, vCache, blockTable and seqLens must not be null");
        }
        if (q.ndim() != 3 || !q.dtype().isFloating() || q.size(0) < 1 || q.size(1) < 1 || q.size(2) < 1) {
            throw new IllegalArgumentException(op + ": q must be a floating [N >= 1, H, D], got " + q.describe());
        }
        if (kCache.ndim() != 4 || !kCache.dtype().isFloating()) {
            throw new IllegalArgumentException(
                    op + ": kCache must be a floating [numBlocks, blockSize, Hkv, D], got " + kCache.describe());
        }
        if (!Arrays.equals(kCache.shape(), vCache.shape()) || kCache.dtype() != vCache.dtype()) {
            throw new IllegalArgumentException(
                    op + ": kCache " + kCache.describe() + " and vCache " + vCache.describe() + " differ");
        }
        int n = q.size(0), h = q.size(1), d = q.size(2);
        int blocks = kCache.size(0), bs = kCache.size(1), hk = kCache.size(2);
        if (kCache.size(3) != d) {
            throw new IllegalArgumentException(op + ": the caches' head dim " + kCache.size(3) + " differs from q's "
                    + d + " (q " + q.describe() + ", kCache " + kCache.describe() + ")");
        }
        if (hk < 1 || h % hk != 0) {
            throw new IllegalArgumentException(
                    op + ": " + h + " query heads are not a multiple of " + hk + " key/value heads");
        }
        if (blocks < 1 || bs < 1) {
            throw new IllegalArgumentException(op + ": the caches hold no block: " + kCache.describe());
        }
        if (blockTable.dtype() != DType.I32
                || blockTable.ndim() != 2
                || blockTable.size(0) != n
                || blockTable.size(1) < 1) {
            throw new IllegalArgumentException(
                    op + ": blockTable must be i32 [" + n + ", maxBlocks >= 1], got " + blockTable.describe());
        }
        if (seqLens.dtype() != DType.I32 || seqLens.ndim() != 1 || seqLens.size(0) != n) {
            throw new IllegalArgumentException(op + ": seqLens must be i32 [" + n + "], got " + seqLens.describe());
        }
        for (Tensor t : new Tensor[] {kCache, vCache, blockTable, seqLens}) {
            if (!t.device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": every argument must be on q's device " + q.device() + ", got " + t.describe());
            }
        }
        if (!(scale > 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException(op + ": scale must be positive and finite, got " + scale);
        }
        return new PagedDecodeShape(n, h, hk, d, bs, blockTable.size(1), blocks);
    }

    /**
     * Checks each sequence's length (1 to the table's capacity) and the ids of the blocks it uses (within the
     * caches); the entries past a sequence's last block are not read.
     */
    public void checkEntries(String op, int[] table, int[] lens) {
        for (int n = 0; n < seqs; n++) {
            int len = lens[n];
            if (len < 1 || (long) len > (long) maxBlocks * blockSize) {
                throw new IllegalArgumentException(op + ": seqLens[" + n + "] = " + len + " is outside [1, "
                        + (long) maxBlocks * blockSize + "] (" + maxBlocks + " blocks of " + blockSize + " tokens)");
            }
            for (int b = 0; b < (len + blockSize - 1) / blockSize; b++) {
                int id = table[n * maxBlocks + b];
                if (id < 0 || id >= numBlocks) {
                    throw new IllegalArgumentException(op + ": blockTable[" + n + ", " + b + "] = " + id
                            + " is not one of the caches' " + numBlocks + " blocks");
                }
            }
        }
    }
}
