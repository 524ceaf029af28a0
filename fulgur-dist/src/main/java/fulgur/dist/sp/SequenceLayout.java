package fulgur.dist.sp;

import java.util.Arrays;

/**
 * How a sequence of {@link #total()} positions is cut into contiguous slices, one per sequence-parallel rank:
 * rank r holds positions {@code [offset(r), offset(r) + length(r))}.
 */
public record SequenceLayout(int[] lengths) {

    public SequenceLayout {
        if (lengths == null || lengths.length == 0) {
            throw new IllegalArgumentException("sequence layout: need at least one rank");
        }
        for (int i = 0; i < lengths.length; i++) {
            if (lengths[i] < 1) {
                throw new IllegalArgumentException(
                        "sequence layout: rank " + i + " would hold " + lengths[i] + " positions, expected >= 1");
            }
        }
        lengths = lengths.clone();
    }

    /**
     * Equal slices of a sequence of {@code total} positions over {@code ranks} ranks; the length must split evenly
     * (each rank's slice need not be a multiple of any block size).
     */
    public static SequenceLayout even(int total, int ranks) {
        if (ranks < 1) {
            throw new IllegalArgumentException("sequence parallelism: the group size must be >= 1, got " + ranks);
        }
        if (total < ranks || total % ranks != 0) {
            throw new IllegalArgumentException(
                    "sequence parallelism: a sequence of " + total + " tokens does not split evenly over " + ranks
                            + " ranks (the length must be a multiple of the sequence-parallel size; e.g. "
                            + Math.max(ranks, total / ranks * ranks) + ")");
        }
        int[] l = new int[ranks];
        Arrays.fill(l, total / ranks);
        return new SequenceLayout(l);
    }

    public int ranks() {
        return lengths.length;
    }

    public int length(int rank) {
        return lengths[rank];
    }

    @Override
    public int[] lengths() {
        return lengths.clone();
    }

    public long offset(int rank) {
        long o = 0;
        for (int i = 0; i < rank; i++) {
            o += lengths[i];
        }
        return o;
    }

    public long total() {
        return offset(lengths.length);
    }

    /** Positions strictly between the end of rank {@code from} and the start of rank {@code to} (from &lt; to). */
    public long gap(int from, int to) {
        return offset(to) - offset(from + 1);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SequenceLayout s && Arrays.equals(lengths, s.lengths);
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(lengths);
    }

    @Override
    public String toString() {
        return "SequenceLayout" + Arrays.toString(lengths);
    }
}
