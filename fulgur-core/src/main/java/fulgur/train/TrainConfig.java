package fulgur.train;

import java.util.ArrayList;
import java.util.List;

/**
 * Settings of a training run. Steps count optimizer updates; each update sees {@code accumulation} micro-batches
 * of {@code batchSize} sequences of {@code seqLen} tokens.
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

    public static TrainConfig defaults() {
        return new TrainConfig(1000, 16, 128, 1, 3e-3, 50, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 100, 0, 1234);
    }

    public TrainConfig validate() {
        List<String> p = new ArrayList<>();
        if (steps <= 0) {
            p.add("steps must be > 0 (got " + steps + ")");
        }
        if (batchSize <= 0 || seqLen <= 0 || accumulation <= 0) {
            p.add("batch size, sequence length and accumulation must be > 0 (got " + batchSize + ", " + seqLen + ", " + accumulation + ")");
        }
        if (!(lr > 0) || Double.isInfinite(lr)) {
            p.add("learning rate must be > 0 (got " + lr + ")");
        }
        if (warmupSteps < 0 || (steps > 0 && warmupSteps > steps)) {
            p.add("warmup must be in [0, steps] (got " + warmupSteps + ")");
        }
        if (gradClip < 0) {
            p.add("gradient clip must be >= 0, 0 = off (got " + gradClip + ")");
        }
        if (evalEvery < 0 || checkpointEvery < 0) {
            p.add("eval and checkpoint intervals must be >= 0 (0 = only at the end)");
        }
        if (!p.isEmpty()) {
            throw new IllegalArgumentException("invalid training settings: " + String.join("; ", p));
        }
        return this;
    }

    public LrSchedule lrSchedule() {
        return LrSchedule.of(schedule, lr, warmupSteps, steps, minLrFraction);
    }
}
