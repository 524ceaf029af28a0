package fulgur.train;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A learning-rate schedule: the learning rate to use for a given optimizer step.
 *
 * <p><b>Step convention.</b> {@code step} is the 0-based index of the optimizer step about to be taken
 * ({@code 0, 1, ..., totalSteps - 1}). The schedules built here share one shape:
 * <ul>
 *   <li><b>warmup</b> ({@code step < warmupSteps}): linear ramp {@code peak * (step + 1) / warmupSteps}, so the
 *       first step already uses a non-zero rate and step {@code warmupSteps - 1} uses exactly {@code peak};</li>
 *   <li><b>decay</b> ({@code warmupSteps <= step <= totalSteps}): with
 *       {@code p = (step - warmupSteps) / (totalSteps - warmupSteps)}, going from {@code peak} at {@code p = 0} to
 *       {@code min = minFraction * peak} at {@code p = 1} — along a half cosine ({@link Kind#COSINE}), a straight
 *       line ({@link Kind#LINEAR}), or not at all ({@link Kind#CONSTANT});</li>
 *   <li><b>after the end</b> ({@code step >= totalSteps}): clamped at the end value {@code min} (for
 *       {@link Kind#CONSTANT}: {@code peak}).</li>
 * </ul>
 * With {@code warmupSteps == 0} the schedule starts directly at {@code peak}.
 * Schedules are immutable and thread-safe; {@link #lr(long)} throws {@link IllegalArgumentException} for a
 * negative step.
 */
@FunctionalInterface
public interface LrSchedule {

    /**
     * The learning rate for the 0-based optimizer step {@code step} (must be {@code >= 0}).
     *
     * @param step the step, ≥ 0
     * @return the learning rate
     */
    double lr(long step);

    /** The schedule shapes that can be named on a command line. */
    enum Kind {
        /** Linear warmup, then half-cosine decay to the minimum. */
        COSINE,
        /** Linear warmup, then linear decay to the minimum. */
        LINEAR,
        /** Linear warmup, then the peak rate for ever. */
        CONSTANT;

        /**
         * The lower-case name used on command lines: {@code cosine}, {@code linear}, {@code constant}.
         *
         * @return the name
         */
        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /**
         * Parses a CLI name, ignoring case and surrounding blanks: {@code "cosine"} (alias {@code "cos"}),
         * {@code "linear"}, {@code "constant"} (alias {@code "const"}).
         *
         * @param text the name
         * @return the kind
         * @throws IllegalArgumentException naming the accepted values, for anything else (including null)
         */
        public static Kind parse(String text) {
            String s = text == null ? "" : text.strip().toLowerCase(Locale.ROOT);
            return switch (s) {
                case "cosine", "cos" -> COSINE;
                case "linear" -> LINEAR;
                case "constant", "const" -> CONSTANT;
                default ->
                    throw new IllegalArgumentException("unknown learning-rate schedule '" + text
                            + "': expected one of "
                            + Arrays.stream(values()).map(Kind::cliName).collect(Collectors.joining(", ")));
            };
        }
    }

    /**
     * Linear warmup over {@code warmupSteps}, then half-cosine decay from {@code peak} to
     * {@code minFraction * peak} at {@code totalSteps}, constant afterwards.
     *
     * @param peak        the peak learning rate, finite and {@code > 0}
     * @param warmupSteps {@code >= 0} and {@code <= totalSteps}
     * @param totalSteps  {@code >= 0}: the step at which the minimum is reached
     * @param minFraction the final rate as a fraction of the peak, in {@code [0, 1]}
     * @return the schedule
     */
    static LrSchedule cosine(double peak, long warmupSteps, long totalSteps, double minFraction) {
        return new WarmupDecaySchedule(Kind.COSINE, peak, warmupSteps, totalSteps, minFraction);
    }

    /**
     * Like {@link #cosine} but the decay after warmup is a straight line from {@code peak} to the minimum.
     *
     * @param peak the peak learning rate, finite and {@code > 0}
     * @param warmupSteps {@code >= 0} and {@code <= totalSteps}
     * @param totalSteps the step at which the minimum is reached
     * @param minFraction the final rate as a fraction of the peak, in [0, 1]
     * @return the schedule
     * @throws IllegalArgumentException for a value out of range
     */
    static LrSchedule linear(double peak, long warmupSteps, long totalSteps, double minFraction) {
        return new WarmupDecaySchedule(Kind.LINEAR, peak, warmupSteps, totalSteps, minFraction);
    }

    /**
     * Linear warmup over {@code warmupSteps} (may be 0), then {@code peak} for every later step.
     *
     * @param peak the learning rate after warmup, finite and {@code > 0}
     * @param warmupSteps the warmup steps, ≥ 0
     * @return the schedule
     * @throws IllegalArgumentException for a value out of range
     */
    static LrSchedule constant(double peak, long warmupSteps) {
        return new WarmupDecaySchedule(Kind.CONSTANT, peak, warmupSteps, warmupSteps, 1.0);
    }

    /**
     * The schedule of the given kind. For {@link Kind#CONSTANT}, {@code totalSteps} is only checked
     * (it must still be {@code >= warmupSteps}) and {@code minFraction} is ignored.
     *
     * @param kind the kind
     * @param peak the peak learning rate, finite and {@code > 0}
     * @param warmupSteps {@code >= 0} and {@code <= totalSteps}
     * @param totalSteps the step at which the minimum is reached
     * @param minFraction the final rate as a fraction of the peak, in [0, 1]
     * @return the schedule
     * @throws IllegalArgumentException for a null kind or a value out of range
     */
    static LrSchedule of(Kind kind, double peak, long warmupSteps, long totalSteps, double minFraction) {
        if (kind == null) {
            throw new IllegalArgumentException("schedule kind must not be null");
        }
        return switch (kind) {
            case COSINE -> cosine(peak, warmupSteps, totalSteps, minFraction);
            case LINEAR -> linear(peak, warmupSteps, totalSteps, minFraction);
            case CONSTANT -> {
                WarmupDecaySchedule.checkSteps(warmupSteps, totalSteps);
                yield constant(peak, warmupSteps);
            }
        };
    }

    /**
     * {@link #of} with the kind parsed from a CLI name by {@link Kind#parse}.
     *
     * @param kind the kind's CLI name
     * @param peak the peak learning rate, finite and {@code > 0}
     * @param warmupSteps {@code >= 0} and {@code <= totalSteps}
     * @param totalSteps the step at which the minimum is reached
     * @param minFraction the final rate as a fraction of the peak, in [0, 1]
     * @return the schedule
     * @throws IllegalArgumentException for an unknown name or a value out of range
     */
    static LrSchedule parse(String kind, double peak, long warmupSteps, long totalSteps, double minFraction) {
        return of(Kind.parse(kind), peak, warmupSteps, totalSteps, minFraction);
    }
}
