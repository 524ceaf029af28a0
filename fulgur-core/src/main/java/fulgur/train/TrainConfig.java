package fulgur.train;

import java.util.ArrayList;
import java.util.List;

/**
 * Settings of a training run. Steps count optimizer updates; each update sees {@code accumulation} micro-batches
 * of {@code batchSize} sequences of {@code seqLen} tokens.
 *
 * @param steps optimizer updates in total, &gt; 0
 * @param batchSize sequences per micro-batch, &gt; 0
 * @param seqLen tokens per sequence, &gt; 0
 * @param accumulation micro-batches per update, &gt; 0
 * @param lr the peak learning rate, finite and &gt; 0
 * @param warmupSteps steps of linear warmup, in [0, steps]
 * @param schedule the decay after warmup
 * @param minLrFraction the final rate as a fraction of the peak, in [0, 1]
 * @param weightDecay AdamW's decoupled weight decay, ≥ 0
 * @param beta1 AdamW's β₁, in [0, 1)
 * @param beta2 AdamW's β₂, in [0, 1)
 * @param eps AdamW's ε, &gt; 0
 * @param gradClip the largest global gradient norm, 0 for none
 * @param evalEvery steps between evaluations, 0 for only at the end
 * @param checkpointEvery steps between checkpoints, 0 for only at the end
 * @param seed the seed of the data order and initial weights
 */
public record TrainConfig(
        long steps,
        int batchSize,
        int seqLen,
        int accumulation,
        double lr,
        long warmupSteps,
        LrSchedule.Kind schedule,
        double minLrFraction,
        double weightDecay,
        double beta1,
        double beta2,
        double eps,
        double gradClip,
        long evalEvery,
        long checkpointEvery,
        long seed) {

    /**
     * 1 000 steps of 16 × 128 tokens, AdamW (lr 3e-3, β 0.9/0.95, weight decay 0.1) with 50 warmup steps and a cosine
     * to 10 %, clipping at 1, evaluation every 100 steps.
     *
     * @return the settings
     */
    public static TrainConfig defaults() {
        return new TrainConfig(
                1000, 16, 128, 1, 3e-3, 50, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 100, 0, 1234);
    }

    /** The most tokens one micro-batch may hold: its inputs and targets are Java arrays indexed by an int. */
    public static final long MAX_BATCH_TOKENS = Integer.MAX_VALUE - 8;

    /**
     * Checks every setting and throws one IllegalArgumentException naming every problem; returns this config.
     *
     * @return this config
     * @throws IllegalArgumentException naming every problem
     */
    public TrainConfig validate() {
        List<String> p = new ArrayList<>();
        if (steps <= 0) {
            p.add("steps must be > 0 (got " + steps + ")");
        }
        if (batchSize <= 0 || seqLen <= 0 || accumulation <= 0) {
            p.add("batch size, sequence length and accumulation must be > 0 (got " + batchSize + ", " + seqLen + ", "
                    + accumulation + ")");
        } else if ((long) batchSize * seqLen > MAX_BATCH_TOKENS) {
            p.add("batch size × sequence length = " + (long) batchSize * seqLen
                    + " tokens is more than one micro-batch can hold (" + MAX_BATCH_TOKENS
                    + "); use gradient accumulation for larger batches");
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            p.add("learning rate must be finite and > 0 (got " + lr + ")");
        }
        if (warmupSteps < 0 || (steps > 0 && warmupSteps > steps)) {
            p.add("warmup must be in [0, steps] (got " + warmupSteps + ")");
        }
        if (schedule == null) {
            p.add("a learning-rate schedule is required");
        }
        if (!(minLrFraction >= 0 && minLrFraction <= 1)) {
            p.add("minimum learning-rate fraction must be in [0, 1] (got " + minLrFraction + ")");
        }
        if (!(weightDecay >= 0) || Double.isInfinite(weightDecay)) {
            p.add("weight decay must be finite and >= 0 (got " + weightDecay + ")");
        }
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            p.add("AdamW betas must be in [0, 1) (got " + beta1 + ", " + beta2 + ")");
        }
        if (!(eps > 0) || Double.isInfinite(eps)) {
            p.add("AdamW eps must be finite and > 0 (got " + eps + ")");
        }
        if (!(gradClip >= 0) || Double.isInfinite(gradClip)) {
            p.add("gradient clip must be finite and >= 0, 0 = off (got " + gradClip + ")");
        }
        if (evalEvery < 0 || checkpointEvery < 0) {
            p.add("eval and checkpoint intervals must be >= 0 (0 = only at the end)");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid training settings: " + String.join("; ", p));
        }
        return this;
    }

    /**
     * The settings a resumed run may change: the total number of steps (the schedule is recomputed for the new total:
     * a run is extended or shortened) and how often it evaluates and checkpoints. Every other setting changes what
     * the remaining steps compute, so a resumed run would no longer continue the interrupted one.
     */
    public static final java.util.Set<String> FREE_ON_RESUME =
            java.util.Set.of("steps", "evalEvery", "checkpointEvery");

    /**
     * A setting that differs between a checkpoint's run ({@code saved}) and this one ({@code now}).
     *
     * @param field the setting's name, as the record names it
     * @param saved its value in the checkpoint's run
     * @param now its value in this run
     */
    public record Change(String field, Object saved, Object now) {
        @Override
        public String toString() {
            return field + " " + now + " (checkpoint: " + saved + ")";
        }
    }

    /**
     * Every setting of this config that differs from {@code saved}'s, in declaration order.
     *
     * @param saved the checkpoint's settings
     * @return the changes
     */
    public List<Change> changesFrom(TrainConfig saved) {
        List<Change> out = new ArrayList<>();
        for (var c : TrainConfig.class.getRecordComponents()) {
            try {
                Object a = c.getAccessor().invoke(saved);
                Object b = c.getAccessor().invoke(this);
                if (!java.util.Objects.equals(a, b)) {
                    out.add(new Change(c.getName(), a, b));
                }
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
        }
        return out;
    }

    /**
     * The changes from {@code saved} that a resumed run refuses unless told otherwise (all but {@link
     * #FREE_ON_RESUME}).
     *
     * @param saved the checkpoint's settings
     * @return the refused changes
     */
    public List<Change> resumeConflicts(TrainConfig saved) {
        return changesFrom(saved).stream()
                .filter(c -> !FREE_ON_RESUME.contains(c.field()))
                .toList();
    }

    /**
     * The settings a checkpoint's trainer state recorded under {@code train_config}, or null when it has none.
     *
     * @param trainerState a checkpoint's trainer state
     * @return the settings, or null
     * @throws IllegalArgumentException when they are recorded but unreadable
     */
    public static TrainConfig saved(java.util.Map<String, Object> trainerState) {
        Object tc = trainerState.get("train_config");
        if (!(tc instanceof java.util.Map<?, ?>)) {
            return null;
        }
        try {
            return fulgur.io.Json.mapper().convertValue(tc, TrainConfig.class);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("the checkpoint's train_config is not readable: " + e.getMessage(), e);
        }
    }

    /**
     * The learning rate of each step under these settings.
     *
     * @return the schedule
     */
    public LrSchedule lrSchedule() {
        return LrSchedule.of(schedule, lr, warmupSteps, steps, minLrFraction);
    }

    /**
     * This config with {@code steps} optimizer updates in total.
     *
     * @param steps the total steps
     * @return the new config
     */
    public TrainConfig withSteps(long steps) {
        return with("steps", steps);
    }

    /**
     * This config with micro-batches of {@code batchSize} sequences of {@code seqLen} tokens.
     *
     * @param batchSize sequences per micro-batch
     * @param seqLen tokens per sequence
     * @return the new config
     */
    public TrainConfig withBatch(int batchSize, int seqLen) {
        return with("batchSize", batchSize).with("seqLen", seqLen);
    }

    /**
     * This config with peak learning rate {@code lr}, reached after {@code warmupSteps} steps of linear warmup.
     *
     * @param lr the peak learning rate
     * @param warmupSteps the warmup steps
     * @return the new config
     */
    public TrainConfig withLr(double lr, long warmupSteps) {
        return with("lr", lr).with("warmupSteps", warmupSteps);
    }

    /**
     * This config evaluating every {@code evalEvery} steps (0: only at the end).
     *
     * @param evalEvery steps between evaluations
     * @return the new config
     */
    public TrainConfig withEvalEvery(long evalEvery) {
        return with("evalEvery", evalEvery);
    }

    /** A copy with one component replaced, by name: the withers stay right whatever components the record gains. */
    private TrainConfig with(String component, Object value) {
        var components = TrainConfig.class.getRecordComponents();
        Object[] args = new Object[components.length];
        Class<?>[] types = new Class<?>[components.length];
        try {
            for (int i = 0; i < components.length; i++) {
                types[i] = components[i].getType();
                args[i] = components[i].getName().equals(component)
                        ? value
                        : components[i].getAccessor().invoke(this);
            }
            return TrainConfig.class.getDeclaredConstructor(types).newInstance(args);
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot copy TrainConfig with " + component + " = " + value, e);
        }
    }
}
