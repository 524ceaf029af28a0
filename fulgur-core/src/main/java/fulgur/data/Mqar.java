package fulgur.data;

import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The multi-query associative recall (MQAR) synthetic task of Zoology (Arora et al., 2023), as used by MetaLA, made
 * to follow Zoology's {@code multiquery_ar} generator:
 *
 * <ul>
 *   <li>keys are drawn without replacement from {@code [1, vocab/2)}, values from {@code [vocab/2, vocab)};
 *   <li>the sequence starts with the pairs interleaved, {@code k0 v0 k1 v1 ...} (repeated {@code numPasses} times);
 *   <li>the rest (length {@code seqLen - context}) is filler, with each queried key placed at an even offset
 *       {@code 2·gap} after the context, the gaps drawn without replacement from {@code [0, (seqLen - context)/2)}
 *       with power-law weights {@code p(g) ∝ (g+1)^(powerA-1)} (small {@code powerA}: queries mostly soon after the
 *       context; {@code powerA = 1}: uniform), using numpy's algorithm for weighted sampling without replacement;
 *   <li>the target at a query position is the value paired with that key, and {@link Batch#IGNORE_INDEX}
 *       everywhere else;
 *   <li>filler positions hold 0, or, with {@code randomNonQueries} (Zoology's default), uniform random tokens from
 *       the whole vocabulary.
 * </ul>
 *
 * With {@code numQueries == numKvPairs} (Zoology's only setting) key {@code i} is queried at gap {@code i}; with
 * fewer queries a random subset of the keys is queried. Every example is a pure function of (seed, example index), so
 * batches are reproducible and a resumed run sees the same data. Zoology also asserts {@code seqLen} even and
 * {@code vocabSize > seqLen}; neither is needed here and neither is required.
 */
public final class Mqar {

    /**
     * One MQAR setting (Zoology's {@code multiquery_ar}).
     *
     * @param vocabSize tokens are in {@code [0, vocabSize)}
     * @param seqLen input length T
     * @param numKvPairs number of key-value pairs in the context
     * @param numQueries number of keys queried (1 .. numKvPairs)
     * @param powerA power-law parameter of the query gaps (Zoology's {@code power_a}, default 0.01)
     * @param randomNonQueries fill non-query positions with random tokens (true) or 0 (false)
     * @param numPasses times the key-value context is repeated (JRT-style; default 1)
     */
    public record Config(
            int vocabSize,
            int seqLen,
            int numKvPairs,
            int numQueries,
            double powerA,
            boolean randomNonQueries,
            int numPasses) {
        /**
         * Checks the setting.
         *
         * @throws IllegalArgumentException when a count is not positive, the queries exceed the pairs, the vocabulary
         *     cannot hold distinct keys and values, or the context and queries do not fit in seqLen
         */
        public Config {
            if (numKvPairs <= 0) {
                throw new IllegalArgumentException("MQAR numKvPairs must be positive, got " + numKvPairs);
            }
            if (numQueries <= 0 || numQueries > numKvPairs) {
                throw new IllegalArgumentException(
                        "MQAR numQueries must be in [1, numKvPairs=" + numKvPairs + "], got " + numQueries);
            }
            if (numPasses <= 0) {
                throw new IllegalArgumentException("MQAR numPasses must be positive, got " + numPasses);
            }
            if (!(powerA > 0) || Double.isInfinite(powerA)) {
                throw new IllegalArgumentException("MQAR powerA must be a positive number, got " + powerA);
            }
            int keyRange = vocabSize / 2 - 1;
            int valueRange = vocabSize - vocabSize / 2;
            if (vocabSize < 4 || keyRange < numKvPairs || valueRange < numKvPairs) {
                throw new IllegalArgumentException("MQAR vocabSize " + vocabSize + " is too small for " + numKvPairs
                        + " distinct keys in [1, " + vocabSize / 2 + ") and values in [" + vocabSize / 2 + ", "
                        + vocabSize + "): need vocabSize >= " + (2 * numKvPairs + 2));
            }
            long context = 2L * numKvPairs * numPasses;
            long needed = context + 2L * numQueries;
            if (seqLen <= 0 || needed > seqLen) {
                throw new IllegalArgumentException("MQAR seqLen " + seqLen + " is too short: " + numKvPairs
                        + " key-value pairs x " + numPasses + " passes take " + context + " tokens and " + numQueries
                        + " queries need 2 tokens each after them, " + needed + " in all");
            }
        }

        /**
         * Zoology's defaults: every key queried, powerA 0.01, random filler, one pass.
         *
         * @param vocabSize tokens are in {@code [0, vocabSize)}
         * @param seqLen input length T
         * @param numKvPairs number of key-value pairs
         * @return the config
         * @throws IllegalArgumentException when the sizes do not fit
         */
        public static Config of(int vocabSize, int seqLen, int numKvPairs) {
            return new Config(vocabSize, seqLen, numKvPairs, numKvPairs, 0.01, true, 1);
        }

        /**
         * {@return this setting with {@code q} keys queried}
         *
         * @param q the queries, 1 .. numKvPairs
         */
        public Config withNumQueries(int q) {
            return new Config(vocabSize, seqLen, numKvPairs, q, powerA, randomNonQueries, numPasses);
        }

        /**
         * {@return this setting with query gaps of power-law parameter {@code a}}
         *
         * @param a the parameter, &gt; 0
         */
        public Config withPowerA(double a) {
            return new Config(vocabSize, seqLen, numKvPairs, numQueries, a, randomNonQueries, numPasses);
        }

        /**
         * {@return this setting with random (true) or zero (false) tokens at non-query positions}
         *
         * @param random the choice
         */
        public Config withRandomNonQueries(boolean random) {
            return new Config(vocabSize, seqLen, numKvPairs, numQueries, powerA, random, numPasses);
        }

        /**
         * {@return this setting with the key-value context repeated {@code passes} times}
         *
         * @param passes the repetitions, &gt; 0
         */
        public Config withNumPasses(int passes) {
            return new Config(vocabSize, seqLen, numKvPairs, numQueries, powerA, randomNonQueries, passes);
        }

        /**
         * Length of the key-value context.
         *
         * @return 2 · numKvPairs · numPasses tokens
         */
        public int contextLength() {
            return 2 * numKvPairs * numPasses;
        }
    }

    private final Config config;
    private final double[] gapWeights;

    /**
     * A generator of examples of {@code config}.
     *
     * @param config the setting
     */
    public Mqar(Config config) {
        this.config = Objects.requireNonNull(config, "config");
        int space = (config.seqLen() - config.contextLength()) / 2;
        gapWeights = new double[space];
        for (int g = 0; g < space; g++) {
            gapWeights[g] = config.powerA() * Math.pow(g + 1, config.powerA() - 1);
        }
    }

    /** {@return the setting} */
    public Config config() {
        return config;
    }

    /**
     * The {@code step}-th batch of {@code batchSize} examples of the stream seeded by {@code seed}.
     *
     * @param seed the stream's seed
     * @param step the batch index, ≥ 0
     * @param batchSize examples per batch
     * @return the batch
     */
    public Batch batch(long seed, long step, int batchSize) {
        return generate(seed, Math.multiplyExact(step, (long) batchSize), batchSize);
    }

    /**
     * Examples {@code firstExample .. firstExample + count - 1} of the stream seeded by {@code seed}.
     *
     * @param seed the stream's seed
     * @param firstExample the first example's index
     * @param count the examples, &gt; 0
     * @return the batch
     * @throws IllegalArgumentException when {@code count} is not positive
     */
    public Batch generate(long seed, long firstExample, int count) {
        if (count <= 0) {
            throw new IllegalArgumentException("example count must be positive, got " + count);
        }
        int t = config.seqLen();
        int[] inputs = new int[Math.multiplyExact(count, t)];
        int[] targets = new int[inputs.length];
        Workspace ws = new Workspace(config);
        for (int e = 0; e < count; e++) {
            example(
                    new SplittableRandom(Seeds.derive(seed, 0x4D514152L, firstExample + e)),
                    ws,
                    inputs,
                    targets,
                    e * t);
        }
        return new Batch(count, t, inputs, targets);
    }

    /** Scratch arrays reused across the examples of one call. */
    private static final class Workspace {
        final int[] keyPool;
        final int[] valuePool;
        final int[] keys;
        final int[] values;
        final int[] gaps;
        final int[] queried;
        final boolean[] isQuery;

        Workspace(Config c) {
            int half = c.vocabSize() / 2;
            keyPool = new int[half - 1];
            for (int i = 0; i < keyPool.length; i++) {
                keyPool[i] = 1 + i;
            }
            valuePool = new int[c.vocabSize() - half];
            for (int i = 0; i < valuePool.length; i++) {
                valuePool[i] = half + i;
            }
            keys = new int[c.numKvPairs()];
            values = new int[c.numKvPairs()];
            gaps = new int[c.numQueries()];
            queried = new int[c.numKvPairs()];
            isQuery = new boolean[c.seqLen()];
        }
    }

    private void example(SplittableRandom rng, Workspace ws, int[] inputs, int[] targets, int off) {
        Config c = config;
        int t = c.seqLen();
        int n = c.numKvPairs();
        sampleWithoutReplacement(rng, ws.keyPool, n, ws.keys);
        sampleWithoutReplacement(rng, ws.valuePool, n, ws.values);
        int context = c.contextLength();
        for (int p = 0; p < c.numPasses(); p++) {
            for (int i = 0; i < n; i++) {
                inputs[off + p * 2 * n + 2 * i] = ws.keys[i];
                inputs[off + p * 2 * n + 2 * i + 1] = ws.values[i];
            }
        }
        java.util.Arrays.fill(targets, off, off + t, Batch.IGNORE_INDEX);
        java.util.Arrays.fill(inputs, off + context, off + t, 0);
        java.util.Arrays.fill(ws.isQuery, false);
        powerLawGaps(rng, ws.gaps);
        // which pairs are queried: all in order (Zoology), or a random subset
        for (int i = 0; i < n; i++) {
            ws.queried[i] = i;
        }
        if (c.numQueries() < n) {
            for (int i = 0; i < c.numQueries(); i++) {
                int j = i + rng.nextInt(n - i);
                int tmp = ws.queried[i];
                ws.queried[i] = ws.queried[j];
                ws.queried[j] = tmp;
            }
        }
        for (int q = 0; q < c.numQueries(); q++) {
            int pos = context + 2 * ws.gaps[q];
            int pair = ws.queried[q];
            inputs[off + pos] = ws.keys[pair];
            targets[off + pos] = ws.values[pair];
            ws.isQuery[pos] = true;
        }
        if (c.randomNonQueries()) {
            for (int pos = context; pos < t; pos++) {
                if (!ws.isQuery[pos]) {
                    inputs[off + pos] = rng.nextInt(c.vocabSize());
                }
            }
        }
    }

    /** The first {@code k} of a random permutation of {@code pool}, into {@code out}; {@code pool} is left as it was. */
    private static void sampleWithoutReplacement(SplittableRandom rng, int[] pool, int k, int[] out) {
        int[] swaps = new int[k];
        for (int i = 0; i < k; i++) {
            int j = i + rng.nextInt(pool.length - i);
            swaps[i] = j;
            int tmp = pool[i];
            pool[i] = pool[j];
            pool[j] = tmp;
            out[i] = pool[i];
        }
        for (int i = k - 1; i >= 0; i--) {
            int j = swaps[i];
            int tmp = pool[i];
            pool[i] = pool[j];
            pool[j] = tmp;
        }
    }

    /**
     * numpy's {@code choice(space, size, replace=False, p)}: draw the missing count with replacement from the weights
     * with found gaps zeroed, keep first occurrences of new values in draw order, repeat until enough.
     */
    private void powerLawGaps(SplittableRandom rng, int[] out) {
        int size = out.length;
        int space = gapWeights.length;
        double[] cdf = new double[space];
        boolean[] found = new boolean[space];
        int have = 0;
        while (have < size) {
            double acc = 0;
            for (int g = 0; g < space; g++) {
                acc += found[g] ? 0 : gapWeights[g];
                cdf[g] = acc;
            }
            int draws = size - have;
            int[] drawn = new int[draws];
            for (int d = 0; d < draws; d++) {
                double x = rng.nextDouble() * acc;
                drawn[d] = upperBound(cdf, x);
            }
            for (int d = 0; d < draws && have < size; d++) {
                int g = drawn[d];
                if (!found[g]) {
                    found[g] = true;
                    out[have++] = g;
                }
            }
        }
    }

    /** The first index whose cumulative weight exceeds {@code x} (numpy's searchsorted side='right'), skipping zero-weight ends. */
    private static int upperBound(double[] cdf, double x) {
        int lo = 0;
        int hi = cdf.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (cdf[mid] > x) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        return lo;
    }

    /**
     * Fraction of positions with a target where {@code predictions} (one id per position, [B*T]) equal it.
     *
     * @param batch the batch
     * @param predictions predicted ids [B·T]
     * @return the accuracy in [0, 1]
     * @throws IllegalArgumentException when the lengths differ or the batch has no target
     */
    public static double accuracy(Batch batch, int[] predictions) {
        if (predictions.length != batch.targets().length) {
            throw new IllegalArgumentException("predictions has " + predictions.length
                    + " ids, expected batch x seqLen = " + batch.targets().length);
        }
        long total = 0;
        long correct = 0;
        int[] targets = batch.targets();
        for (int i = 0; i < targets.length; i++) {
            if (targets[i] != Batch.IGNORE_INDEX) {
                total++;
                if (predictions[i] == targets[i]) {
                    correct++;
                }
            }
        }
        if (total == 0) {
            throw new IllegalArgumentException("batch has no positions with a target");
        }
        return (double) correct / total;
    }

    /**
     * Accuracy of the argmax of {@code logits} ([B*T, vocabSize], row-major).
     *
     * @param batch the batch
     * @param logits [B·T, vocabSize]
     * @param vocabSize the logits per position
     * @return the accuracy in [0, 1]
     * @throws IllegalArgumentException when the lengths differ or the batch has no target
     */
    public static double accuracy(Batch batch, float[] logits, int vocabSize) {
        return accuracy(batch, argmax(logits, vocabSize, batch.targets().length));
    }

    /**
     * Row-wise argmax of {@code logits} ([rows, vocabSize]); the first maximum wins.
     *
     * @param logits [rows, vocabSize]
     * @param vocabSize the logits per row
     * @param rows the rows
     * @return the index of each row's maximum
     * @throws IllegalArgumentException when {@code logits} does not hold rows × vocabSize values
     */
    public static int[] argmax(float[] logits, int vocabSize, int rows) {
        if (vocabSize <= 0 || (long) rows * vocabSize != logits.length) {
            throw new IllegalArgumentException(
                    "logits has " + logits.length + " values, expected rows " + rows + " x vocabSize " + vocabSize);
        }
        int[] out = new int[rows];
        for (int r = 0; r < rows; r++) {
            int base = r * vocabSize;
            int best = 0;
            float bestValue = logits[base];
            for (int v = 1; v < vocabSize; v++) {
                if (logits[base + v] > bestValue) {
                    bestValue = logits[base + v];
                    best = v;
                }
            }
            out[r] = best;
        }
        return out;
    }
}
