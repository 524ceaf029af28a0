package fulgur.data;

import fulgur.io.Json;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Cuts training batches out of a token stream: each of the {@code batch} rows is a window of {@code seqLen + 1}
 * consecutive tokens, inputs its first {@code seqLen}, targets the same shifted by one.
 *
 * <ul>
 *   <li>{@link Mode#RANDOM}: window starts drawn uniformly from the whole stream by a generator seeded from
 *       (seed, step, rank), so batch {@code k} depends only on the seed and {@code k}.
 *   <li>{@link Mode#SEQUENTIAL}: consecutive windows (stride {@code seqLen}), rank {@code r} of {@code w} taking
 *       every {@code w}-th batch-sized chunk; at the end of the stream (when a whole global step no longer fits)
 *       it starts over from the beginning.
 * </ul>
 *
 * <p>The whole state is the step counter plus the configuration: {@link #state()} exports it as a small record
 * (JSON via {@link State#toJson()}), and a sampler built from it with {@link #restore} yields exactly the batches the
 * original would have yielded next. {@link #validation} iterates non-overlapping windows over a stream in order.
 */
public final class PackedSequenceSampler implements Iterator<Batch> {

    /** The most tokens one batch holds (its inputs and targets are Java arrays). */
    public static final long MAX_BATCH_TOKENS = Integer.MAX_VALUE - 8;

    /** How windows are chosen. */
    public enum Mode {
        /** Windows at positions drawn from the seed, anywhere in the stream. */
        RANDOM,
        /** Consecutive windows from the start, wrapping around at the end (an epoch). */
        SEQUENTIAL
    }

    /**
     * Everything needed to resume: the configuration (checked on restore) and the number of batches already
     * produced. {@code streamSize} guards against resuming on different data.
     *
     * @param mode how windows are chosen
     * @param seed the seed of random windows
     * @param step batches produced so far, ≥ 0
     * @param batch windows per batch
     * @param seqLen tokens per window (plus one for the targets)
     * @param rank this data-parallel rank
     * @param worldSize the number of ranks
     * @param streamSize the stream's tokens when the state was saved
     */
    public record State(
            Mode mode, long seed, long step, int batch, int seqLen, int rank, int worldSize, long streamSize) {
        /**
         * Checks the state.
         *
         * @throws NullPointerException when {@code mode} is null
         * @throws IllegalArgumentException when {@code step} is negative
         */
        public State {
            Objects.requireNonNull(mode, "mode");
            if (step < 0) {
                throw new IllegalArgumentException("step must be >= 0, got " + step);
            }
        }

        /**
         * This state as JSON.
         *
         * @return the JSON text
         */
        public String toJson() {
            return Json.toJson(this);
        }

        /**
         * A state from {@link #toJson()}'s output.
         *
         * @param json the JSON text
         * @return the state
         * @throws IllegalArgumentException when the text is not such a state
         */
        public static State fromJson(String json) {
            return Json.parse(json, State.class, "sampler state");
        }
    }

    private final TokenStream tokens;
    private final Mode mode;
    private final long seed;
    private final int batch;
    private final int seqLen;
    private final int rank;
    private final int worldSize;
    private final long stepsPerEpoch;
    private long step;

    private PackedSequenceSampler(
            TokenStream tokens, Mode mode, long seed, int batch, int seqLen, int rank, int worldSize, long step) {
        this.tokens = Objects.requireNonNull(tokens, "tokens");
        this.mode = Objects.requireNonNull(mode, "mode");
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException(
                    "batch and seqLen must be positive, got batch=" + batch + ", seqLen=" + seqLen);
        }
        if (worldSize <= 0 || rank < 0 || rank >= worldSize) {
            throw new IllegalArgumentException(
                    "need 0 <= rank < worldSize, got rank=" + rank + ", worldSize=" + worldSize);
        }
        if ((long) batch * seqLen > MAX_BATCH_TOKENS) {
            throw new IllegalArgumentException("a batch of " + batch + " sequences of " + seqLen + " tokens is "
                    + (long) batch * seqLen + " tokens, more than one batch holds (" + MAX_BATCH_TOKENS
                    + "); use fewer sequences per batch");
        }
        long n = tokens.size();
        if (n < seqLen + 1L) {
            throw new IllegalArgumentException(
                    "token stream has " + n + " tokens, fewer than one window of seqLen + 1 = " + (seqLen + 1L));
        }
        long globalChunk = (long) batch * seqLen * worldSize;
        if (mode == Mode.SEQUENTIAL && n < globalChunk + 1) {
            throw new IllegalArgumentException(
                    "token stream has " + n + " tokens, fewer than one sequential step needs: batch " + batch
                            + " x seqLen " + seqLen + " x worldSize " + worldSize + " + 1 = " + (globalChunk + 1));
        }
        this.seed = seed;
        this.batch = batch;
        this.seqLen = seqLen;
        this.rank = rank;
        this.worldSize = worldSize;
        this.stepsPerEpoch = (n - 1) / globalChunk;
        this.step = step;
    }

    /**
     * Random windows, one process.
     *
     * @param tokens the stream
     * @param batch windows per batch
     * @param seqLen tokens per window (plus one for the targets)
     * @param seed the seed of the window positions
     * @return the sampler
     * @throws IllegalArgumentException when the stream is shorter than a window, or the sizes are not positive
     */
    public static PackedSequenceSampler random(TokenStream tokens, int batch, int seqLen, long seed) {
        return new PackedSequenceSampler(tokens, Mode.RANDOM, seed, batch, seqLen, 0, 1, 0);
    }

    /**
     * Consecutive windows from the start, one process.
     *
     * @param tokens the stream
     * @param batch windows per batch
     * @param seqLen tokens per window (plus one for the targets)
     * @return the sampler
     * @throws IllegalArgumentException when the stream is shorter than a window, or the sizes are not positive
     */
    public static PackedSequenceSampler sequential(TokenStream tokens, int batch, int seqLen) {
        return new PackedSequenceSampler(tokens, Mode.SEQUENTIAL, 0, batch, seqLen, 0, 1, 0);
    }

    /**
     * Any configuration; {@code rank}/{@code worldSize} give each data-parallel rank its own batches.
     *
     * @param tokens the stream
     * @param mode how windows are chosen
     * @param batch windows per batch
     * @param seqLen tokens per window (plus one for the targets)
     * @param seed the seed of random windows
     * @param rank this rank, in [0, worldSize)
     * @param worldSize the number of ranks
     * @return the sampler
     * @throws IllegalArgumentException for sizes out of range or a stream shorter than a window
     */
    public static PackedSequenceSampler create(
            TokenStream tokens, Mode mode, int batch, int seqLen, long seed, int rank, int worldSize) {
        return new PackedSequenceSampler(tokens, mode, seed, batch, seqLen, rank, worldSize, 0);
    }

    /**
     * A sampler continuing from {@code state} over {@code tokens}, which must be the stream the state came from.
     *
     * @param tokens the stream
     * @param state a state of the sampler to continue
     * @return the sampler
     * @throws IllegalArgumentException when the stream's size differs from the saved one
     */
    public static PackedSequenceSampler restore(TokenStream tokens, State state) {
        if (tokens.size() != state.streamSize()) {
            throw new IllegalArgumentException(
                    "sampler state was saved over a stream of " + state.streamSize() + " tokens but this stream has "
                            + tokens.size() + "; resuming would not reproduce the same batches");
        }
        return new PackedSequenceSampler(
                tokens,
                state.mode(),
                state.seed(),
                state.batch(),
                state.seqLen(),
                state.rank(),
                state.worldSize(),
                state.step());
    }

    /**
     * The current state (the next batch is number {@code state().step()}).
     *
     * @return the state
     */
    public State state() {
        return new State(mode, seed, step, batch, seqLen, rank, worldSize, tokens.size());
    }

    /**
     * Number of batches produced so far.
     *
     * @return the count
     */
    public long step() {
        return step;
    }

    /**
     * For sequential mode: completed passes over the stream.
     *
     * @return the passes, 0 in random mode
     */
    public long epoch() {
        return mode == Mode.SEQUENTIAL ? step / stepsPerEpoch : 0;
    }

    /** Always true: the sampler wraps around (sequential) or draws forever (random). */
    @Override
    public boolean hasNext() {
        return true;
    }

    /** The next batch. */
    @Override
    public Batch next() {
        int[] inputs = new int[batch * seqLen];
        int[] targets = new int[batch * seqLen];
        SplittableRandom rng = mode == Mode.RANDOM ? new SplittableRandom(Seeds.derive(seed, step, rank)) : null;
        long maxStart = tokens.size() - seqLen; // exclusive bound of window starts
        long base = 0;
        if (mode == Mode.SEQUENTIAL) {
            long within = step % stepsPerEpoch;
            base = (within * worldSize + rank) * batch * (long) seqLen;
        }
        for (int b = 0; b < batch; b++) {
            long start = rng != null ? rng.nextLong(maxStart) : base + (long) b * seqLen;
            // inputs [start, start + T), targets one further: no window of T + 1 (which would not fit an int at T = 2³¹
            // − 1)
            tokens.read(start, inputs, b * seqLen, seqLen);
            tokens.read(start + 1, targets, b * seqLen, seqLen);
        }
        step++;
        return new Batch(batch, seqLen, inputs, targets);
    }

    /**
     * Non-overlapping windows over {@code tokens} in order: window {@code i} has inputs {@code [i*T, i*T + T)} and
     * targets shifted by one; {@code (size - 1) / T} windows, grouped {@code batch} at a time (the last batch may
     * have fewer rows). Each iteration starts over from the beginning.
     *
     * @param tokens the stream
     * @param batch windows per batch
     * @param seqLen tokens per window
     * @return the batches
     * @throws IllegalArgumentException when a size is not positive or the stream holds no window
     */
    public static Iterable<Batch> validation(TokenStream tokens, int batch, int seqLen) {
        if (batch <= 0 || seqLen <= 0) {
            throw new IllegalArgumentException(
                    "batch and seqLen must be positive, got batch=" + batch + ", seqLen=" + seqLen);
        }
        long windows = Math.max(0, (tokens.size() - 1) / seqLen);
        if (windows == 0) {
            throw new IllegalArgumentException("validation stream has " + tokens.size()
                    + " tokens, fewer than one window of seqLen + 1 = " + (seqLen + 1L));
        }
        return () -> new Iterator<>() {
            long next;

            @Override
            public boolean hasNext() {
                return next < windows;
            }

            @Override
            public Batch next() {
                if (!hasNext()) {
                    throw new NoSuchElementException();
                }
                int rows = (int) Math.min(batch, windows - next);
                int[] inputs = new int[Math.multiplyExact(rows, seqLen)];
                int[] targets = new int[rows * seqLen];
                for (int b = 0; b < rows; b++) {
                    tokens.read((next + b) * seqLen, inputs, b * seqLen, seqLen);
                    tokens.read((next + b) * seqLen + 1, targets, b * seqLen, seqLen);
                }
                next += rows;
                return new Batch(rows, seqLen, inputs, targets);
            }
        };
    }

    /**
     * Number of validation windows {@link #validation} yields over a stream of {@code size} tokens.
     *
     * @param size the stream's tokens
     * @param seqLen tokens per window
     * @return the count
     */
    public static long validationWindows(long size, int seqLen) {
        return Math.max(0, (size - 1) / seqLen);
    }
}
