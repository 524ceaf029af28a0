package fulgur.data;

import java.util.Objects;

/**
 * A read-only sequence of token ids addressed by {@code long} index: an in-memory array, a memory-mapped shard, or
 * a directory of shards. Implementations are safe for concurrent reads.
 */
public interface TokenStream {

    /**
     * Number of tokens.
     *
     * @return the count
     */
    long size();

    /**
     * The token at {@code index} (0 &lt;= index &lt; size()).
     *
     * @param index the position
     * @return the token id
     */
    int get(long index);

    /**
     * Copies tokens {@code [from, from + len)} into {@code dst[off .. off + len)}.
     *
     * @param from the first position
     * @param dst where to copy
     * @param off the first index in dst
     * @param len how many
     * @throws IndexOutOfBoundsException when a range is out of bounds
     */
    default void read(long from, int[] dst, int off, int len) {
        Objects.checkFromIndexSize(off, len, dst.length);
        Objects.checkFromIndexSize(from, len, size());
        for (int i = 0; i < len; i++) {
            dst[off + i] = get(from + i);
        }
    }

    /**
     * Tokens {@code [from, from + len)} as a new array.
     *
     * @param from the first position
     * @param len how many
     * @return the tokens
     * @throws IndexOutOfBoundsException when the range is out of bounds
     */
    default int[] toArray(long from, int len) {
        int[] out = new int[len];
        read(from, out, 0, len);
        return out;
    }

    /**
     * A view of tokens {@code [from, to)}.
     *
     * @param from the first position, inclusive
     * @param to the last, exclusive
     * @return the view
     * @throws IndexOutOfBoundsException when the range is out of bounds
     */
    default TokenStream slice(long from, long to) {
        Objects.checkFromToIndex(from, to, size());
        TokenStream base = this;
        return new TokenStream() {
            @Override
            public long size() {
                return to - from;
            }

            @Override
            public int get(long index) {
                Objects.checkIndex(index, to - from);
                return base.get(from + index);
            }

            @Override
            public void read(long start, int[] dst, int off, int len) {
                Objects.checkFromIndexSize(start, len, to - from);
                base.read(from + start, dst, off, len);
            }
        };
    }

    /**
     * A stream over {@code tokens} (not copied).
     *
     * @param tokens the tokens
     * @return the stream
     */
    static TokenStream of(int[] tokens) {
        Objects.requireNonNull(tokens, "tokens");
        return new TokenStream() {
            @Override
            public long size() {
                return tokens.length;
            }

            @Override
            public int get(long index) {
                return tokens[Math.toIntExact(Objects.checkIndex(index, tokens.length))];
            }

            @Override
            public void read(long from, int[] dst, int off, int len) {
                Objects.checkFromIndexSize(from, len, tokens.length);
                System.arraycopy(tokens, (int) from, dst, off, len);
            }
        };
    }
}
