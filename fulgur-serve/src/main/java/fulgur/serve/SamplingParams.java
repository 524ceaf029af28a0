package fulgur.serve;

/**
 * Sampling settings of one request: greedy at temperature 0; otherwise softmax(logits / temperature) restricted to
 * the {@code topK} most likely tokens (0: all) and to the smallest set whose probability reaches {@code topP}, drawn
 * from a generator seeded with {@code seed}, so that equal requests give equal tokens.
 *
 * @param temperature the softmax temperature, ≥ 0 (0: greedy)
 * @param topP nucleus sampling's probability mass, in (0, 1]
 * @param topK keep the k most likely tokens, 0 for all
 * @param seed the seed of the draws
 */
public record SamplingParams(double temperature, double topP, int topK, long seed) {
    /** Greedy decoding: always the most likely token. */
    public static final SamplingParams GREEDY = new SamplingParams(0, 1, 0, 0);

    /** Checks the settings: temperature finite and &ge; 0, top-p in (0, 1], top-k &ge; 0. */
    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("top_p must be in (0, 1], got " + topP);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top_k must be >= 0 (0 = off), got " + topK);
        }
    }
}
