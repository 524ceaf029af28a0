package fulgur.generate;

import fulgur.tensor.Rng;
import java.util.Arrays;

/**
 * Picks the next token from logits: greedy at temperature 0, else softmax(logits/T) restricted by top-k and top-p.
 * One sampler per sequence: its generator is seeded once, so equal settings and logits give equal tokens. Candidates
 * are ordered by logit (ties by id) only when top-k or top-p needs an order, with primitive sorts (a serving engine
 * samples every sequence of a batch on each step).
 */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final Rng rng;
    private long[] keys = new long[0];
    private double[] probs = new double[0];

    /**
     * A sampler.
     *
     * @param temperature the softmax temperature, ≥ 0 (0: greedy)
     * @param topK keep the k most likely tokens, 0 for all
     * @param topP keep the smallest set of tokens whose probability reaches p, in (0, 1]
     * @param seed the seed of the draws
     * @throws IllegalArgumentException for a value out of range
     */
    public Sampler(double temperature, int topK, double topP, long seed) {
        if (temperature < 0 || Double.isNaN(temperature)) {
            throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.rng = new Rng(seed);
    }

    /**
     * The next token for {@code logits}. Logits that are NaN or +Inf (a model whose weights or activations went
     * non-finite) are refused: no distribution can be drawn from them. -Inf is a masked token.
     *
     * @param logits one logit per token id
     * @return the token id
     * @throws IllegalStateException when a logit is NaN or +Inf, or all are -Inf
     */
    public int sample(float[] logits) {
        return sample(logits, 0, logits.length);
    }

    /**
     * Samples from {@code logits[offset, offset + vocab)} (one row of a batch's logits), refusing them as {@link
     * #sample(float[])} does.
     *
     * @param logits a batch's logits, row-major
     * @param offset the row's first index
     * @param vocab the row's length
     * @return the token id, in [0, vocab)
     * @throws IllegalArgumentException when the row is outside {@code logits}
     * @throws IllegalStateException when a logit is NaN or +Inf, or all are -Inf
     */
    public int sample(float[] logits, int offset, int vocab) {
        if (vocab < 1 || offset < 0 || offset + vocab > logits.length) {
            throw new IllegalArgumentException("sample: row [" + offset + ", " + (offset + vocab)
                    + ") is outside logits of length " + logits.length);
        }
        requireSampleable(logits, offset, vocab);
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < vocab; i++) {
                if (logits[offset + i] > logits[offset + best]) {
                    best = i;
                }
            }
            return best;
        }
        boolean ordered = topK > 0 && topK < vocab || topP < 1;
        if (!ordered) {
            return sampleAll(logits, offset, vocab);
        }
        int keep = topK > 0 ? Math.min(topK, vocab) : vocab;
        long[] order = order(logits, offset, vocab, keep);
        double max = logits[offset + id(order[0])];
        double[] p = probs.length >= keep ? probs : (probs = new double[keep]);
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((logits[offset + id(order[i])] - max) / temperature);
            sum += p[i];
        }
        // Nucleus: the smallest prefix whose probability reaches topP.
        double cum = 0;
        int n = keep;
        for (int i = 0; i < keep; i++) {
            cum += p[i] / sum;
            if (cum >= topP) {
                n = i + 1;
                break;
            }
        }
        double total = 0;
        for (int i = 0; i < n; i++) {
            total += p[i];
        }
        double u = rng.nextDouble() * total;
        for (int i = 0; i < n; i++) {
            u -= p[i];
            if (u <= 0) {
                return id(order[i]);
            }
        }
        return id(order[n - 1]);
    }

    /**
     * Throws {@link IllegalStateException} when {@code logits[offset, offset + vocab)} holds NaN or +Inf, or only -Inf:
     * there is no distribution to draw from (the check every sampler of generated text runs).
     */
    private static void requireSampleable(float[] logits, int offset, int vocab) {
        boolean any = false;
        for (int i = 0; i < vocab; i++) {
            float x = logits[offset + i];
            if (Float.isNaN(x) || x == Float.POSITIVE_INFINITY) {
                throw new IllegalStateException("the model's logits are not finite (" + x + " for token " + i
                        + "): its weights or activations overflowed, so there is nothing to sample from");
            }
            any |= x != Float.NEGATIVE_INFINITY;
        }
        if (!any) {
            throw new IllegalStateException(
                    "every one of the model's " + vocab + " logits is -Infinity: there is nothing to sample from");
        }
    }

    /** Plain softmax sampling over the whole vocabulary, in id order (no order needed). */
    private int sampleAll(float[] logits, int offset, int vocab) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double[] p = probs.length >= vocab ? probs : (probs = new double[vocab]);
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            p[i] = Math.exp((logits[offset + i] - max) / temperature);
            total += p[i];
        }
        double u = rng.nextDouble() * total;
        for (int i = 0; i < vocab; i++) {
            u -= p[i];
            if (u <= 0) {
                return i;
            }
        }
        return vocab - 1;
    }

    /**
     * The {@code keep} most likely ids, most likely first, ties by id: keys pack a descending-sortable logit above the
     * id, so one primitive sort orders them (a partial selection first when few are kept).
     */
    private long[] order(float[] logits, int offset, int vocab, int keep) {
        long[] k = keys.length >= vocab ? keys : (keys = new long[vocab]);
        for (int i = 0; i < vocab; i++) {
            k[i] = key(logits[offset + i], i);
        }
        if (keep <= 64 && keep * 8L < vocab) {
            long[] top = new long[keep];
            System.arraycopy(k, 0, top, 0, keep);
            Arrays.sort(top);
            for (int i = keep; i < vocab; i++) {
                if (k[i] < top[keep - 1]) {
                    int at = Arrays.binarySearch(top, 0, keep - 1, k[i]);
                    at = at < 0 ? -at - 1 : at;
                    System.arraycopy(top, at, top, at + 1, keep - 1 - at);
                    top[at] = k[i];
                }
            }
            return top;
        }
        Arrays.sort(k, 0, vocab);
        return k;
    }

    /** Ascending keys order by descending logit, then ascending id. */
    private static long key(float logit, int id) {
        int bits = Float.floatToIntBits(logit);
        int asc = bits >= 0 ? bits ^ Integer.MIN_VALUE : ~bits; // order-preserving map to unsigned
        long desc = 0xFFFFFFFFL - (asc & 0xFFFFFFFFL);
        return desc << 31 | id;
    }

    private static int id(long key) {
        return (int) (key & 0x7FFFFFFF);
    }
}
