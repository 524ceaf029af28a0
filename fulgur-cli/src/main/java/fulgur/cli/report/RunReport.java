package fulgur.cli.report;

import fulgur.train.Trainer;
import fulgur.train.TrainingListener;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the command line makes of a training run's events: a progress bar (tokens/s, loss, lr, ETA) on the output
 * stream, the metrics log {@code metrics.jsonl} (one JSON line per step and per evaluation; a resumed run continues
 * it from the checkpoint's step) and, at the end, the loss curve {@code loss.png}, both in the run's output folder.
 * Close it after the run (also when the run fails) to finish the bar and the log.
 */
public final class RunReport implements TrainingListener, AutoCloseable {
    private final PrintStream out;
    private final String title;
    private Path metricsPath;
    private MetricsLog metrics;
    private ProgressBar bar;

    /** Reports to {@code out}; {@code title} heads the loss curve. */
    public RunReport(PrintStream out, String title) {
        this.out = out;
        this.title = title;
    }

    @Override
    public void runStarted(Start start) {
        metricsPath = start.outDir().resolve("metrics.jsonl");
        try {
            if (!start.resumed()) {
                Files.deleteIfExists(metricsPath);
            }
            metrics = start.resumed() ? MetricsLog.resume(metricsPath, start.step()) : MetricsLog.open(metricsPath);
        } catch (IOException e) {
            throw new UncheckedIOException("metrics log " + metricsPath + ": " + e.getMessage(), e);
        }
        bar = ProgressBar.builder(start.totalSteps(), out)
                .label("train")
                .startStep(start.step())
                .startTokens(start.tokens())
                .build();
    }

    @Override
    public void stepDone(Step s) {
        Map<String, Object> fields = new LinkedHashMap<>();
        fields.put(MetricsLog.LOSS, s.loss());
        fields.put(MetricsLog.LR, s.lr());
        fields.put("grad_norm", s.gradNorm());
        fields.put(MetricsLog.TOKENS_PER_S, s.tokensPerSecond());
        fields.put(MetricsLog.STEP_S, s.stepSeconds());
        fields.put(MetricsLog.PEAK_MEMORY_GIB, s.peakMemoryGib());
        fields.put("tokens", s.tokens());
        log(s.step(), "train", fields);
        bar.update(s.step(), s.tokens(), s.loss(), Map.of("lr", s.lr()));
    }

    @Override
    public void evalDone(Eval e) {
        log(e.step(), "val", new LinkedHashMap<>(e.metrics()));
        message("step " + e.step() + " " + Trainer.describe(e.metrics()));
    }

    @Override
    public void message(String line) {
        if (bar != null) {
            bar.println(line);
        } else {
            out.println(line);
        }
    }

    @Override
    public void runFinished(long steps) {
        close();
        try {
            LossCurvePlot.writeFromMetrics(metricsPath, metricsPath.resolveSibling("loss.png"), title);
        } catch (IOException | RuntimeException | LinkageError e) { // LinkageError: a runtime without java.desktop
            out.println("warning: could not draw the loss curve: " + e.getMessage());
        }
    }

    private void log(long step, String split, Map<String, ?> fields) {
        try {
            metrics.log(step, split, fields);
        } catch (IOException e) {
            throw new UncheckedIOException("metrics log " + metricsPath + ": " + e.getMessage(), e);
        }
    }

    /** Finishes the bar and closes the metrics log (idempotent). */
    @Override
    public void close() {
        if (bar != null) {
            bar.close();
            bar = null;
        }
        if (metrics != null) {
            try {
                metrics.close();
            } catch (IOException e) {
                throw new UncheckedIOException("metrics log " + metricsPath + ": " + e.getMessage(), e);
            } finally {
                metrics = null;
            }
        }
    }
}
