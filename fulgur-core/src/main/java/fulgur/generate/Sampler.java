package fulgur.generate;

import fulgur.tensor.Rng;
import java.util.Arrays;

/** Picks the next token from logits: greedy at temperature 0, else softmax(logits/T) restricted by top-k and top-p. */
public final class Sampler {
    private final double temperature;
    private final int topK;
    private final double topP;
    private final Rng rng;

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
     */
    public int sample(float[] logits) {
        int v = logits.length;
        boolean any = false;
        for (int i = 0; i < v; i++) {
            if (Float.isNaN(logits[i]) || logits[i] == Float.POSITIVE_INFINITY) {
                throw new IllegalStateException("the model's logits are not finite (" + logits[i] + " for token " + i
                        + "): its weights or activations overflowed, so there is nothing to sample from");
            }
            any |= logits[i] != Float.NEGATIVE_INFINITY;
        }
        if (!any) {
            throw new IllegalStateException("every one of the model's " + v + " logits is -Infinity: there is nothing to sample from");
        }
        if (temperature == 0) {
            int best = 0;
            for (int i = 1; i < v; i++) {
                if (logits[i] > logits[best]) {
                    best = i;
                }
            }
            return best;
        }
        Integer[] order = new Integer[v];
        for (int i = 0; i < v; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = topK > 0 ? Math.min(topK, v) : v;
        double max = logits[order[0]];
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((logits[order[i]] - max) / temperature);
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
                return order[i];
            }
        }
        return order[n - 1];
    }
}
