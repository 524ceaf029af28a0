package fulgur.data;

import java.util.Arrays;
import java.util.Objects;

/**
 * A batch of {@code batch} sequences of {@code seqLen} tokens, flattened row-major: the input token of row {@code b}
 * at position {@code t} is {@code inputs[b * seqLen + t]}, and {@code targets} the same shape holds the token to
 * predict there, or {@link #IGNORE_INDEX} where nothing is to be predicted. Arrays are owned by the batch (not
 * copied); equality compares contents.
 */
public record Batch(int batch, int seqLen, int[] inputs, int[] targets) {

    /** The target value meaning "no loss here" (PyTorch's cross-entropy default). */
    public static final int IGNORE_INDEX = -100;

    public Batch {
        Objects.requireNonNull(inputs, "inputs");
        Objects.requireNonNull(targets, "targets");
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException("batch and seqLen must be positive, got batch=" + batch + ", seqLen=" + seqLen);
        }
        long n = (long) batch * seqLen;
        if (inputs.length != n || targets.length != n) {
            throw new IllegalArgumentException("batch " + batch + " x seqLen " + seqLen + " needs " + n + " inputs and targets, got "
                    + inputs.length + " inputs and " + targets.length + " targets");
        }
    }

    /** Input token of row {@code b} at position {@code t}. */
    public int input(int b, int t) {
        return inputs[index(b, t)];
    }

    /** Target of row {@code b} at position {@code t} ({@link #IGNORE_INDEX} if none). */
    public int target(int b, int t) {
        return targets[index(b, t)];
    }

    /** Number of positions that have a target. */
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
        return o instanceof Batch x && x.batch == batch && x.seqLen == seqLen && Arrays.equals(x.inputs, inputs) && Arrays.equals(x.targets, targets);
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
