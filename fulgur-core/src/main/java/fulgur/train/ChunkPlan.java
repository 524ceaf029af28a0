package fulgur.train;

/**
 * The chunks of {@code chunk} tokens a sequence of {@code length} tokens is walked in: chunk c covers
 * [c·chunk, min(length, (c+1)·chunk)); the last may be shorter. Positions are longs throughout, so any length a
 * tensor can index (up to 2³¹ − 1 per dimension) and any position offset are safe.
 *
 * @param length the sequence's tokens, ≥ 1
 * @param chunk the tokens per chunk, ≥ 1
 */
public record ChunkPlan(long length, int chunk) {
    /**
     * Checks the sizes.
     *
     * @throws IllegalArgumentException for an empty sequence, a chunk under 1 token or more than 2^31-1 chunks
     */
    public ChunkPlan {
        if (length < 1) {
            throw new IllegalArgumentException(
                    "sequence chunks: the sequence must have at least one token, got " + length);
        }
        if (chunk < 1) {
            throw new IllegalArgumentException("sequence chunks: the chunk length must be >= 1 token, got " + chunk);
        }
        if ((length + chunk - 1) / chunk > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("sequence chunks: " + length + " tokens in chunks of " + chunk
                    + " make more than " + Integer.MAX_VALUE + " chunks; use longer chunks");
        }
    }

    /**
     * Number of chunks.
     *
     * @return the count
     */
    public int count() {
        return (int) ((length + chunk - 1) / chunk);
    }

    /**
     * First token of chunk c.
     *
     * @param c the chunk index
     * @return the position
     * @throws IndexOutOfBoundsException when {@code c} is not a chunk index
     */
    public long start(int c) {
        check(c);
        return (long) c * chunk;
    }

    /**
     * Tokens in chunk c.
     *
     * @param c the chunk index
     * @return the length
     * @throws IndexOutOfBoundsException when {@code c} is not a chunk index
     */
    public int length(int c) {
        check(c);
        return (int) Math.min(chunk, length - start(c));
    }

    private void check(int c) {
        if (c < 0 || c >= count()) {
            throw new IndexOutOfBoundsException("sequence chunks: chunk " + c + " of " + count());
        }
    }
}
