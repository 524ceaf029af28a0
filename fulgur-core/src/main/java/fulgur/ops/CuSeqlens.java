package fulgur.ops;

/**
 * Packed variable-length sequences, as flash-attention and flash-linear-attention take them: batch 1, the T axis
 * holding N sequences one after another, {@code cuSeqlens = [0, c₁, …, T]} their cumulative lengths (N + 1 offsets).
 */
public final class CuSeqlens {
    private CuSeqlens() {}

    /** Checks {@code cuSeqlens} (null is fine: no packing) against a batch and a length; returns the sequence count. */
    public static int check(String op, int[] cuSeqlens, int batch, int seqLen) {
        if (cuSeqlens == null) {
            return batch;
        }
        if (batch != 1) {
            throw new IllegalArgumentException(
                    op + ": cuSeqlens given with batch = " + batch + ", expected batch = 1 (sequences packed along T)");
        }
        if (cuSeqlens.length < 2) {
            throw new IllegalArgumentException(op + ": cuSeqlens has length " + cuSeqlens.length
                    + ", expected at least 2 offsets [0, ..., T=" + seqLen + "]");
        }
        if (cuSeqlens[0] != 0) {
            throw new IllegalArgumentException(op + ": cuSeqlens[0] = " + cuSeqlens[0] + ", expected 0");
        }
        for (int i = 1; i < cuSeqlens.length; i++) {
            if (cuSeqlens[i] < cuSeqlens[i - 1]) {
                throw new IllegalArgumentException(
                        op + ": cuSeqlens not monotone: cuSeqlens[" + (i - 1) + "] = " + cuSeqlens[i - 1]
                                + " > cuSeqlens[" + i + "] = " + cuSeqlens[i] + ", expected non-decreasing offsets");
            }
        }
        if (cuSeqlens[cuSeqlens.length - 1] != seqLen) {
            throw new IllegalArgumentException(
                    op + ": cuSeqlens ends at " + cuSeqlens[cuSeqlens.length - 1] + ", expected T = " + seqLen);
        }
        return cuSeqlens.length - 1;
    }
}
