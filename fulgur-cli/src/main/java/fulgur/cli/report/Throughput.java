package fulgur.cli.report;

import java.util.function.LongSupplier;

/**
 * Measures the rate of a growing count (tokens, steps, samples) per second, both as an overall average and as an
 * exponential moving average that follows recent speed.
 *
 * <p>The moving average is time-weighted: when an interval of {@code dt} seconds brought {@code n} more units, the
 * smoothed rate moves towards the interval's rate {@code n / dt} by {@code alpha = 1 - exp(-dt / tau)}, where
 * {@code tau} is the time constant. The result therefore does not depend on how often it is updated: a long interval
 * weighs more than a short one, and an observation older than a few {@code tau} has practically no influence. The
 * first interval sets the smoothed rate directly. Observations that arrive with no time elapsed are accumulated into
 * the next interval.
 *
 * <p>Time comes from an injected {@code nanoClock} (e.g. {@code System::nanoTime}) so tests are deterministic.
 * Not thread-safe.
 */
public final class Throughput {

    /** The default time constant of the moving average, in seconds. */
    public static final double DEFAULT_TIME_CONSTANT_S = 10.0;

    private final LongSupplier nanoClock;
    private final double tauSeconds;
    private final long startNanos;
    private final long startCount;
    private long lastNanos;
    private long lastCount;
    private long count;
    private double smoothed = Double.NaN;

    /** A meter starting now at count 0, with {@link #DEFAULT_TIME_CONSTANT_S} and {@link System#nanoTime()}. */
    public Throughput() {
        this(0, DEFAULT_TIME_CONSTANT_S, System::nanoTime);
    }

    /**
     * A meter that starts now (one read of {@code nanoClock}) at {@code initialCount}.
     *
     * @param initialCount        the count already reached when measuring starts (e.g. tokens seen before a resume);
     *                            rates are computed from counts above it
     * @param timeConstantSeconds {@code tau} of the moving average, finite and {@code > 0}
     * @param nanoClock           monotonic time in nanoseconds
     */
    public Throughput(long initialCount, double timeConstantSeconds, LongSupplier nanoClock) {
        if (!(timeConstantSeconds > 0) || Double.isInfinite(timeConstantSeconds)) {
            throw new IllegalArgumentException(
                    "time constant must be finite and > 0 seconds, got " + timeConstantSeconds);
        }
        if (nanoClock == null) {
            throw new IllegalArgumentException("nanoClock must not be null");
        }
        this.nanoClock = nanoClock;
        this.tauSeconds = timeConstantSeconds;
        this.startNanos = nanoClock.getAsLong();
        this.lastNanos = startNanos;
        this.startCount = initialCount;
        this.lastCount = initialCount;
        this.count = initialCount;
    }

    /** Adds {@code delta >= 0} units done since the previous observation, observed now. */
    public void add(long delta) {
        if (delta < 0) {
            throw new IllegalArgumentException("delta must be >= 0, got " + delta);
        }
        update(count + delta);
    }

    /**
     * Records that the cumulative count is now {@code cumulativeCount}. A count lower than the previous one is
     * rejected: counts only grow.
     */
    public void update(long cumulativeCount) {
        if (cumulativeCount < count) {
            throw new IllegalArgumentException("cumulative count went backwards: " + cumulativeCount + " < " + count);
        }
        count = cumulativeCount;
        long now = nanoClock.getAsLong();
        long dtNanos = now - lastNanos;
        if (dtNanos <= 0) {
            return; // no time elapsed: the units are credited to the next interval
        }
        double dt = dtNanos * 1e-9;
        double instant = (count - lastCount) / dt;
        if (Double.isNaN(smoothed)) {
            smoothed = instant;
        } else {
            double alpha = -Math.expm1(-dt / tauSeconds);
            smoothed += alpha * (instant - smoothed);
        }
        lastNanos = now;
        lastCount = count;
    }

    /** The smoothed rate in units per second; {@code NaN} until some time has elapsed between observations. */
    public double rate() {
        return smoothed;
    }

    /**
     * The average rate since the start, in units per second, over the time up to the latest observation;
     * {@code NaN} before any time has elapsed.
     */
    public double averageRate() {
        long dt = lastNanos - startNanos;
        return dt <= 0 ? Double.NaN : (lastCount - startCount) / (dt * 1e-9);
    }

    /** The latest cumulative count. */
    public long count() {
        return count;
    }

    /** Units counted since the start (the latest count minus the initial count). */
    public long countSinceStart() {
        return count - startCount;
    }

    /** Seconds since the start, read from the clock now. */
    public double elapsedSeconds() {
        return (nanoClock.getAsLong() - startNanos) * 1e-9;
    }
}
