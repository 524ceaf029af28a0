package fulgur.data;

import java.util.Arrays;
import java.util.Objects;

/**
 * A batch of {@code batch} sequences of {@code seqLen} tokens, flattened row-major: the input token of row {@code b}
 * at position {@code t} is {@code inputs[b * seqLen + t]}, and {@code targets} the same shape holds the token to
 * predict there, or {@link #IGNORE_INDEX} where nothing is to be predicted. Arrays are owned by the batch (not
 * copied); equality compares contents.
 *
 * @param batch rows B, &gt; 0
 * @param seqLen tokens per row T, &gt; 0
 * @param inputs input token ids [B·T]
 * @param targets target token ids [B·T], {@link #IGNORE_INDEX} where none
 */
public record Batch(int batch, int seqLen, int[] inputs, int[] targets) {

    /** The target value meaning "no loss here" (PyTorch's cross-entropy default). */
    public static final int IGNORE_INDEX = -100;

    /**
     * Checks the sizes.
     *
     * @throws NullPointerException when an array is null
     * @throws IllegalArgumentException when a size is not positive or an array does not hold B·T ids
     */
    public Batch {
        Objects.requireNonNull(inputs, "inputs");
        Objects.requireNonNull(targets, "targets");
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException(
                    "batch and seqLen must be positive, got batch=" + batch + ", seqLen=" + seqLen);
        }
        long n = (long) batch * seqLen;
        if (inputs.length != n || targets.length != n) {
            throw new IllegalArgumentException("batch " + batch + " x seqLen " + seqLen + " needs " + n
                    + " inputs and targets, got " + inputs.length + " inputs and " + targets.length + " targets");
        }
    }

    /**
     * Input token of row {@code b} at position {@code t}.
     *
     * @param b the row
     * @param t the position
     * @return the token id
     */
    public int input(int b, int t) {
        return inputs[index(b, t)];
    }

    /**
     * Target of row {@code b} at position {@code t} ({@link #IGNORE_INDEX} if none).
     *
     * @param b the row
     * @param t the position
     * @return the token id, or {@link #IGNORE_INDEX}
     */
    public int target(int b, int t) {
        return targets[index(b, t)];
    }

    /**
     * Number of positions that have a target.
     *
     * @return the count
     */
    public long targetCount() {
        long c = 0;
        for (int t : targets) {
            if (t != IGNORE_INDEX) {
                c++;
            }
        }
        return c;
    }

    private int index(int b, int t) {
        Objects.checkIndex(b, batch);
        Objects.checkIndex(t, seqLen);
        return b * seqLen + t;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Batch x
                && x.batch == batch
                && x.seqLen == seqLen
                && Arrays.equals(x.inputs, inputs)
                && Arrays.equals(x.targets, targets);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Integer.hashCode(batch) + seqLen) + 31 * Arrays.hashCode(inputs) + Arrays.hashCode(targets);
    }

    @Override
    public String toString() {
        return "Batch[" + batch + " x " + seqLen + "]";
    }
}
