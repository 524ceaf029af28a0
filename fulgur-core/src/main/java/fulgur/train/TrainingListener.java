package fulgur.train;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a training loop reports as it runs ({@link Trainer}, and fulgur-dist's distributed trainer on its leading
 * rank): the run starting, each optimizer step, each evaluation, each checkpoint, status lines, and the end. The
 * command line turns these into a progress bar, the {@code metrics.jsonl} log and the {@code loss.png} curve; tests
 * record them. Every method has an empty default; listeners run on the training thread, between steps.
 */
public interface TrainingListener {

    /** The run starts at {@code step} (0, or the step of the checkpoint it resumed from) of {@code totalSteps}. */
    record Start(Path outDir, long step, long totalSteps, long tokens, boolean resumed) {}

    /**
     * Optimizer step {@code step} is done: its loss, learning rate and gradient norm, the tokens seen so far, the
     * throughput since the run (re)started, this step's wall seconds, and the device's peak memory so far.
     */
    record Step(long step, long tokens, double loss, double lr, double gradNorm, double tokensPerSecond, double stepSeconds,
                double peakMemoryGib) {}

    /** An evaluation at {@code step}: metric name → value (e.g. loss, accuracy). */
    record Eval(long step, Map<String, Double> metrics) {}

    default void runStarted(Start start) {}

    default void stepDone(Step step) {}

    default void evalDone(Eval eval) {}

    default void checkpointSaved(long step, Path dir) {}

    /** A status line for the user ("resumed from ...", "time limit reached ..."). */
    default void message(String line) {}

    /** The run ended normally after {@code steps} steps in total. */
    default void runFinished(long steps) {}

    /** Prints status lines and evaluations to {@code out}, one line each (no bar, no files). */
    static TrainingListener printing(PrintStream out) {
        return new TrainingListener() {
            @Override
            public void evalDone(Eval eval) {
                out.println("step " + eval.step() + " " + Trainer.describe(eval.metrics()));
            }

            @Override
            public void message(String line) {
                out.println(line);
            }
        };
    }

    /** Every listener of {@code all}, in order. */
    static TrainingListener all(List<TrainingListener> all) {
        List<TrainingListener> ls = List.copyOf(all);
        return new TrainingListener() {
            @Override
            public void runStarted(Start start) {
                ls.forEach(l -> l.runStarted(start));
            }

            @Override
            public void stepDone(Step step) {
                ls.forEach(l -> l.stepDone(step));
            }

            @Override
            public void evalDone(Eval eval) {
                ls.forEach(l -> l.evalDone(eval));
            }

            @Override
            public void checkpointSaved(long step, Path dir) {
                ls.forEach(l -> l.checkpointSaved(step, dir));
            }

            @Override
            public void message(String line) {
                ls.forEach(l -> l.message(line));
            }

            @Override
            public void runFinished(long steps) {
                ls.forEach(l -> l.runFinished(steps));
            }
        };
    }
}
