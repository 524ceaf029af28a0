package fulgur.train;

import java.util.Locale;

/** The implementation behind the {@link LrSchedule} factories: linear warmup, then decay of a given kind. */
final class WarmupDecaySchedule implements LrSchedule {

    private final LrSchedule.Kind kind;
    private final double peak;
    private final double min;
    private final long warmupSteps;
    private final long totalSteps;

    WarmupDecaySchedule(LrSchedule.Kind kind, double peak, long warmupSteps, long totalSteps, double minFraction) {
        if (!Double.isFinite(peak) || peak <= 0) {
            throw new IllegalArgumentException("peak learning rate must be finite and > 0, got " + peak);
        }
        checkSteps(warmupSteps, totalSteps);
        if (!(minFraction >= 0 && minFraction <= 1)) { // also rejects NaN
            throw new IllegalArgumentException("minimum learning rate fraction must be in [0, 1] (the minimum "
                    + "cannot exceed the peak), got " + minFraction);
        }
        this.kind = kind;
        this.peak = peak;
        this.min = kind == LrSchedule.Kind.CONSTANT ? peak : peak * minFraction;
        this.warmupSteps = warmupSteps;
        this.totalSteps = totalSteps;
    }

    static void checkSteps(long warmupSteps, long totalSteps) {
        if (warmupSteps < 0) {
            throw new IllegalArgumentException("warmup steps must be >= 0, got " + warmupSteps);
        }
        if (totalSteps < 0) {
            throw new IllegalArgumentException("total steps must be >= 0, got " + totalSteps);
        }
        if (warmupSteps > totalSteps) {
            throw new IllegalArgumentException(
                    "warmup steps (" + warmupSteps + ") must not exceed total steps (" + totalSteps + ")");
        }
    }

    @Override
    public double lr(long step) {
        if (step < 0) {
            throw new IllegalArgumentException("step must be >= 0, got " + step);
        }
        if (step < warmupSteps) {
            return peak * (double) (step + 1) / (double) warmupSteps;
        }
        if (kind == LrSchedule.Kind.CONSTANT) {
            return peak;
        }
        if (step >= totalSteps) {
            return min;
        }
        double progress = (double) (step - warmupSteps) / (double) (totalSteps - warmupSteps);
        return switch (kind) {
            case COSINE -> min + (peak - min) * 0.5 * (1.0 + Math.cos(Math.PI * progress));
            case LINEAR -> peak + (min - peak) * progress;
            case CONSTANT -> peak;
        };
    }

    @Override
    public String toString() {
        return kind == LrSchedule.Kind.CONSTANT
                ? String.format(Locale.ROOT, "constant(peak=%s, warmup=%d)", peak, warmupSteps)
                : String.format(
                        Locale.ROOT,
                        "%s(peak=%s, warmup=%d, total=%d, min=%s)",
                        kind.cliName(),
                        peak,
                        warmupSteps,
                        totalSteps,
                        min);
    }
}
