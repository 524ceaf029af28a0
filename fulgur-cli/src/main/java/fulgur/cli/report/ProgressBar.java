package fulgur.cli.report;

import java.io.Console;
import java.io.PrintStream;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.SequencedMap;
import java.util.TreeMap;
import java.util.function.LongSupplier;

/**
 * A single-line progress display for long training runs: step/total, a bar, loss and optional named metrics, a
 * smoothed tokens/s, the elapsed time and an ETA.
 *
 * <p>Two modes:
 * <ul>
 *   <li><b>interactive</b> (the output is a terminal): one line redrawn in place with {@code '\r'}, at most once per
 *       {@linkplain Builder#redrawIntervalSeconds redraw interval}, e.g.
 *       <pre>train 1234/10000 [==>                 ]  12.3% | loss 2.3100 acc 0.5120 | 12.3k tok/s | 1m02s&lt;8m10s</pre></li>
 *   <li><b>plain</b> (CI logs, files): a full line every {@linkplain Builder#logEverySteps N steps} or
 *       {@linkplain Builder#logEverySeconds N seconds}, whichever comes first, e.g.
 *       <pre>train step 1234/10000 (12.3%) | loss 2.3100 acc 0.5120 | 12.3k tok/s | elapsed 1m02s | eta 8m10s</pre></li>
 * </ul>
 * {@link #finish()} (or {@link #close()}) ends the line and prints a summary such as
 * {@code train done 10000/10000 steps in 1h02m03s | loss 2.3100 | avg 12.3k tok/s}. Messages printed through
 * {@link #println(String)} do not get mixed into the bar.
 *
 * <p>Time comes from an injectable {@code nanoClock}, so the output is fully deterministic in tests. Metric maps keep
 * their order when they are {@link SequencedMap}s (e.g. {@link java.util.LinkedHashMap}), otherwise they are shown
 * sorted by name. All methods are synchronized, so other threads may call {@link #println(String)}.
 */
public final class ProgressBar implements AutoCloseable {

    private final PrintStream out;
    private final long total;
    private final String label;
    private final boolean interactive;
    private final int barWidth;
    private final long logEverySteps;
    private final long logEveryNanos;
    private final long redrawNanos;
    private final LongSupplier clock;
    private final long startNanos;
    private final long startStep;
    private final Throughput steps;
    private final Throughput tokens;

    private long step;
    private boolean hasLoss;
    private double loss = Double.NaN;
    private Map<String, ? extends Number> metrics = Map.of();
    private boolean tokensSeen;
    // interactive mode
    private long lastDrawNanos;
    private boolean drawn;
    private int drawnLength;
    // plain mode
    private long lastLogNanos;
    private long lastLogStep;
    private boolean finished;

    private ProgressBar(Builder b) {
        this.out = b.out;
        this.total = b.total;
        this.label = b.label;
        this.interactive = b.interactive != null ? b.interactive : outputIsTerminal();
        this.barWidth = b.barWidth;
        this.logEverySteps = b.logEverySteps;
        this.logEveryNanos = Math.round(b.logEverySeconds * 1e9);
        this.redrawNanos = Math.round(b.redrawIntervalSeconds * 1e9);
        this.clock = b.clock;
        this.steps = new Throughput(b.startStep, b.smoothingSeconds, b.clock);
        this.tokens = new Throughput(b.startTokens, b.smoothingSeconds, b.clock);
        this.startNanos = clock.getAsLong();
        this.startStep = b.startStep;
        this.step = b.startStep;
        this.lastLogNanos = startNanos;
        this.lastLogStep = b.startStep;
    }

    /**
     * A builder for a bar over {@code totalSteps} steps ({@code 0} when the total is unknown: then no bar, percentage
     * or ETA is shown), printing to {@code out}.
     */
    public static Builder builder(long totalSteps, PrintStream out) {
        return new Builder(totalSteps, out);
    }

    /**
     * Whether this process's console is an interactive terminal ({@code System.console()} exists and
     * {@link Console#isTerminal()}; since JDK 22 {@code System.console()} is non-null even when redirected).
     */
    public static boolean outputIsTerminal() {
        Console c = System.console();
        return c != null && c.isTerminal();
    }

    /** Configuration of a {@link ProgressBar}. */
    public static final class Builder {
        private final long total;
        private final PrintStream out;
        private String label = "";
        private Boolean interactive;
        private int barWidth = 20;
        private long logEverySteps = 0;
        private double logEverySeconds = 10;
        private double redrawIntervalSeconds = 0.1;
        private double smoothingSeconds = Throughput.DEFAULT_TIME_CONSTANT_S;
        private long startStep = 0;
        private long startTokens = 0;
        private LongSupplier clock = System::nanoTime;

        private Builder(long total, PrintStream out) {
            if (total < 0) {
                throw new IllegalArgumentException("total steps must be >= 0 (0 = unknown), got " + total);
            }
            if (out == null) {
                throw new IllegalArgumentException("output stream must not be null");
            }
            this.total = total;
            this.out = out;
        }

        /** A prefix such as {@code "train"} (default none). */
        public Builder label(String label) {
            this.label = label == null ? "" : label.strip();
            return this;
        }

        /**
         * Forces interactive ({@code '\r'} redraw) or plain (periodic lines) mode; by default interactive exactly
         * when {@link ProgressBar#outputIsTerminal()}.
         */
        public Builder interactive(boolean interactive) {
            this.interactive = interactive;
            return this;
        }

        /** Characters between the brackets of the bar (default 20, at least 1). */
        public Builder barWidth(int width) {
            if (width < 1) {
                throw new IllegalArgumentException("bar width must be >= 1, got " + width);
            }
            this.barWidth = width;
            return this;
        }

        /** Plain mode: print a line once this many steps have passed since the last one ({@code 0} = off, default). */
        public Builder logEverySteps(long steps) {
            if (steps < 0) {
                throw new IllegalArgumentException("logEverySteps must be >= 0, got " + steps);
            }
            this.logEverySteps = steps;
            return this;
        }

        /**
         * Plain mode: print a line once this many seconds have passed since the last one ({@code 0} = off; default 10).
         * When both this and {@link #logEverySteps} are off, every update prints a line.
         */
        public Builder logEverySeconds(double seconds) {
            if (!(seconds >= 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("logEverySeconds must be finite and >= 0, got " + seconds);
            }
            this.logEverySeconds = seconds;
            return this;
        }

        /** Interactive mode: minimum time between redraws (default 0.1 s; the last step is always drawn). */
        public Builder redrawIntervalSeconds(double seconds) {
            if (!(seconds >= 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("redraw interval must be finite and >= 0, got " + seconds);
            }
            this.redrawIntervalSeconds = seconds;
            return this;
        }

        /** Time constant of the moving averages behind tokens/s and the ETA (default 10 s); see {@link Throughput}. */
        public Builder smoothingSeconds(double seconds) {
            if (!(seconds > 0) || Double.isInfinite(seconds)) {
                throw new IllegalArgumentException("smoothing must be finite and > 0 seconds, got " + seconds);
            }
            this.smoothingSeconds = seconds;
            return this;
        }

        /** The step already reached when the bar starts, e.g. when resuming (default 0). */
        public Builder startStep(long step) {
            if (step < 0) {
                throw new IllegalArgumentException("start step must be >= 0, got " + step);
            }
            this.startStep = step;
            return this;
        }

        /** The cumulative token count already reached when the bar starts (default 0). */
        public Builder startTokens(long tokens) {
            if (tokens < 0) {
                throw new IllegalArgumentException("start tokens must be >= 0, got " + tokens);
            }
            this.startTokens = tokens;
            return this;
        }

        /** Monotonic time in nanoseconds (default {@link System#nanoTime()}); inject a fake one in tests. */
        public Builder nanoClock(LongSupplier clock) {
            if (clock == null) {
                throw new IllegalArgumentException("clock must not be null");
            }
            this.clock = clock;
            return this;
        }

        /** Creates the bar; its start time is read from the clock now. */
        public ProgressBar build() {
            return new ProgressBar(this);
        }
    }

    /** Whether this bar redraws one line in place (else it prints periodic plain lines). */
    public boolean interactive() {
        return interactive;
    }

    /** {@link #update(long, long, double, Map)} without extra metrics. */
    public synchronized void update(long step, long tokensSeen, double loss) {
        update(step, tokensSeen, loss, Map.of());
    }

    /**
     * Reports progress.
     *
     * @param step       steps completed so far (cumulative, e.g. 1 after the first step); must not go backwards
     * @param tokensSeen tokens processed so far (cumulative, including {@link Builder#startTokens}); must not go
     *                   backwards
     * @param loss       the latest loss; {@code NaN} is shown as {@code nan} (a diverged run should be visible)
     * @param metrics    further values to show after the loss, e.g. {@code acc} or {@code lr}; may be empty
     */
    public synchronized void update(long step, long tokensSeen, double loss, Map<String, ? extends Number> metrics) {
        if (finished) {
            throw new IllegalStateException("progress bar already finished");
        }
        if (step < this.step) {
            throw new IllegalArgumentException("step went backwards: " + step + " < " + this.step);
        }
        if (tokensSeen < tokens.count()) {
            throw new IllegalArgumentException("tokens seen went backwards: " + tokensSeen + " < " + tokens.count());
        }
        this.step = step;
        steps.update(step);
        if (tokensSeen != tokens.count()) {
            this.tokensSeen = true; // only show tokens/s once tokens are actually being counted
        }
        tokens.update(tokensSeen);
        this.loss = loss;
        this.hasLoss = true;
        this.metrics = metrics == null ? Map.of() : orderedCopy(metrics);
        long now = clock.getAsLong();
        if (interactive) {
            boolean last = total > 0 && step >= total;
            if (!drawn || last || now - lastDrawNanos >= redrawNanos) {
                draw(now);
            }
        } else {
            boolean bySteps = logEverySteps > 0 && step - lastLogStep >= logEverySteps;
            boolean byTime = logEveryNanos > 0 && now - lastLogNanos >= logEveryNanos;
            boolean always = logEverySteps == 0 && logEveryNanos == 0;
            if (bySteps || byTime || always) {
                out.println(plainLine(now));
                out.flush();
                lastLogNanos = now;
                lastLogStep = step;
            }
        }
    }

    /**
     * Prints a message on its own line (e.g. an evaluation result) without corrupting the bar: in interactive mode
     * the bar is cleared, the message printed, and the bar redrawn below it.
     */
    public synchronized void println(String message) {
        if (interactive && drawn && !finished) {
            out.print("\r" + " ".repeat(drawnLength) + "\r");
            out.println(message);
            drawnLength = 0;
            draw(clock.getAsLong());
        } else {
            out.println(message);
            out.flush();
        }
    }

    /** Ends the display: draws the final state, ends the line and prints a summary. Further calls do nothing. */
    public synchronized void finish() {
        if (finished) {
            return;
        }
        long now = clock.getAsLong();
        if (interactive) {
            draw(now); // the final state, with the final elapsed time
            out.println();
        }
        out.println(summaryLine(now));
        out.flush();
        finished = true;
    }

    /** Same as {@link #finish()}. */
    @Override
    public void close() {
        finish();
    }

    /** The line interactive mode would draw now (without printing it). */
    public synchronized String renderInteractive() {
        return interactiveLine(clock.getAsLong());
    }

    /** The line plain mode would print now (without printing it). */
    public synchronized String renderPlain() {
        return plainLine(clock.getAsLong());
    }

    private void draw(long now) {
        String line = interactiveLine(now);
        int pad = Math.max(0, drawnLength - line.length());
        out.print("\r" + line + " ".repeat(pad));
        out.flush();
        drawn = true;
        drawnLength = line.length();
        lastDrawNanos = now;
    }

    private String interactiveLine(long now) {
        StringBuilder sb = new StringBuilder();
        if (!label.isEmpty()) {
            sb.append(label).append(' ');
        }
        if (total > 0) {
            double frac = Math.min(1.0, (double) step / total);
            sb.append(step)
                    .append('/')
                    .append(total)
                    .append(" [")
                    .append(bar(frac, barWidth))
                    .append("] ")
                    .append(String.format(Locale.ROOT, "%5.1f%%", 100 * frac));
        } else {
            sb.append("step ").append(step);
        }
        appendValues(sb);
        appendRate(sb, tokens.rate());
        sb.append(" | ").append(formatDuration(elapsed(now)));
        if (total > 0) {
            sb.append('<').append(formatDuration(etaSeconds()));
        }
        return sb.toString();
    }

    private String plainLine(long now) {
        StringBuilder sb = new StringBuilder();
        if (!label.isEmpty()) {
            sb.append(label).append(' ');
        }
        sb.append("step ").append(step);
        if (total > 0) {
            double frac = Math.min(1.0, (double) step / total);
            sb.append('/').append(total).append(String.format(Locale.ROOT, " (%.1f%%)", 100 * frac));
        }
        appendValues(sb);
        appendRate(sb, tokens.rate());
        sb.append(" | elapsed ").append(formatDuration(elapsed(now)));
        if (total > 0) {
            sb.append(" | eta ").append(formatDuration(etaSeconds()));
        }
        return sb.toString();
    }

    private String summaryLine(long now) {
        StringBuilder sb = new StringBuilder();
        if (!label.isEmpty()) {
            sb.append(label).append(' ');
        }
        sb.append("done ").append(step);
        if (total > 0) {
            sb.append('/').append(total);
        }
        sb.append(" steps in ").append(formatDuration(elapsed(now)));
        appendValues(sb);
        if (tokensSeen) {
            sb.append(" | avg ").append(formatRate(tokens.averageRate(), "tok/s"));
        }
        return sb.toString();
    }

    private void appendValues(StringBuilder sb) {
        if (!hasLoss && metrics.isEmpty()) {
            return;
        }
        sb.append(" |");
        if (hasLoss) {
            sb.append(" loss ").append(formatMetric(loss));
        }
        for (Map.Entry<String, ? extends Number> e : metrics.entrySet()) {
            sb.append(' ').append(e.getKey()).append(' ').append(formatNumber(e.getValue()));
        }
    }

    private void appendRate(StringBuilder sb, double rate) {
        if (tokensSeen) {
            sb.append(" | ").append(formatRate(rate, "tok/s"));
        }
    }

    private double elapsed(long now) {
        return (now - startNanos) * 1e-9;
    }

    private double etaSeconds() {
        if (step >= total) {
            return 0;
        }
        double rate = steps.rate();
        return rate > 0 ? (total - step) / rate : Double.NaN;
    }

    private static Map<String, ? extends Number> orderedCopy(Map<String, ? extends Number> metrics) {
        if (metrics.isEmpty()) {
            return Map.of();
        }
        if (metrics instanceof SequencedMap<String, ? extends Number>) {
            return new LinkedHashMap<>(metrics);
        }
        return new TreeMap<>(metrics);
    }

    static String bar(double fraction, int width) {
        int full = (int) Math.floor(Math.max(0, Math.min(1, fraction)) * width);
        if (full >= width) {
            return "=".repeat(width);
        }
        return "=".repeat(full) + ">" + " ".repeat(width - full - 1);
    }

    // ---------------------------------------------------------------------------------------------------------
    // formatting helpers

    /**
     * Formats a duration compactly: {@code 42s}, {@code 3m07s}, {@code 1h02m03s}, {@code 27h46m40s} (hours are not
     * folded into days). Rounded to the nearest second; {@code NaN}, infinite or negative durations give
     * {@code "?"}.
     */
    public static String formatDuration(double seconds) {
        if (!Double.isFinite(seconds) || seconds < 0) {
            return "?";
        }
        long s = Math.round(seconds);
        long h = s / 3600;
        long m = (s % 3600) / 60;
        long sec = s % 60;
        if (h > 0) {
            return String.format(Locale.ROOT, "%dh%02dm%02ds", h, m, sec);
        }
        if (m > 0) {
            return String.format(Locale.ROOT, "%dm%02ds", m, sec);
        }
        return sec + "s";
    }

    /**
     * Formats a non-negative quantity with an SI suffix and one decimal: {@code 987.6}, {@code 12.3k},
     * {@code 4.5M}, {@code 1.2G}, {@code 3.0T}. Values that would round up to the next unit use it ({@code 999.96}
     * gives {@code 1.0k}). {@code NaN}/infinite give {@code "?"}; negative values get a minus sign.
     */
    public static String formatCount(double value) {
        if (!Double.isFinite(value)) {
            return "?";
        }
        if (value < 0) {
            return "-" + formatCount(-value);
        }
        String[] suffixes = {"", "k", "M", "G", "T", "P"};
        double v = value;
        int i = 0;
        while (i < suffixes.length - 1 && Math.round(v * 10) >= 10_000) { // would print as >= 1000.0
            v /= 1000;
            i++;
        }
        return String.format(Locale.ROOT, "%.1f%s", v, suffixes[i]);
    }

    /** {@link #formatCount} plus a unit: {@code formatRate(12345, "tok/s")} gives {@code "12.3k tok/s"}. */
    public static String formatRate(double perSecond, String unit) {
        return formatCount(perSecond) + " " + unit;
    }

    /**
     * Formats a metric value: four decimals for magnitudes in {@code [0.01, 1e6)} ({@code 2.3100}), scientific
     * with three decimals otherwise ({@code 3.000e-04}), {@code 0} for zero, {@code nan}, {@code inf}, {@code -inf}.
     */
    public static String formatMetric(double value) {
        if (Double.isNaN(value)) {
            return "nan";
        }
        if (Double.isInfinite(value)) {
            return value > 0 ? "inf" : "-inf";
        }
        if (value == 0) {
            return "0";
        }
        double a = Math.abs(value);
        if (a >= 0.01 && a < 1e6) {
            return String.format(Locale.ROOT, "%.4f", value);
        }
        return String.format(Locale.ROOT, "%.3e", value);
    }

    private static String formatNumber(Number n) {
        if (n == null) {
            return "-";
        }
        if (n instanceof Long || n instanceof Integer || n instanceof Short || n instanceof Byte) {
            return Long.toString(n.longValue());
        }
        return formatMetric(n.doubleValue());
    }
}
