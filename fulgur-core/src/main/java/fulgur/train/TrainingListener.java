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

    /**
     * The run starts at {@code step} (0, or the step of the checkpoint it resumed from) of {@code totalSteps}.
     *
     * @param outDir the output directory
     * @param step the step the run starts at
     * @param totalSteps the steps the run trains to
     * @param tokens the tokens seen before the start
     * @param resumed whether it resumed from a checkpoint
     */
    record Start(Path outDir, long step, long totalSteps, long tokens, boolean resumed) {}

    /**
     * Optimizer step {@code step} is done: its loss, learning rate and gradient norm, the tokens seen so far, the
     * throughput since the run (re)started, this step's wall seconds, and the device's peak memory so far.
     *
     * @param step the step done, 1-based
     * @param tokens the tokens seen so far
     * @param loss the step's loss
     * @param lr its learning rate
     * @param gradNorm its gradient norm before clipping
     * @param tokensPerSecond the throughput since the run (re)started
     * @param stepSeconds the step's wall seconds
     * @param peakMemoryGib the device's peak memory so far, GiB
     */
    record Step(
            long step,
            long tokens,
            double loss,
            double lr,
            double gradNorm,
            double tokensPerSecond,
            double stepSeconds,
            double peakMemoryGib) {}

    /**
     * An evaluation at {@code step}: metric name → value (e.g. loss, accuracy).
     *
     * @param step the step after which it ran
     * @param metrics the metrics by name
     */
    record Eval(long step, Map<String, Double> metrics) {}

    /**
     * The run starts.
     *
     * @param start where it starts
     */
    default void runStarted(Start start) {}

    /**
     * An optimizer step is done.
     *
     * @param step its figures
     */
    default void stepDone(Step step) {}

    /**
     * An evaluation is done.
     *
     * @param eval its metrics
     */
    default void evalDone(Eval eval) {}

    /**
     * A checkpoint of step {@code step} is on disk.
     *
     * @param step the step
     * @param dir the checkpoint directory
     */
    default void checkpointSaved(long step, Path dir) {}

    /**
     * A status line for the user ("resumed from ...", "time limit reached ...").
     *
     * @param line the line, without a newline
     */
    default void message(String line) {}

    /**
     * The run ended normally after {@code steps} steps in total.
     *
     * @param steps the steps done in total
     */
    default void runFinished(long steps) {}

    /**
     * Prints status lines and evaluations to {@code out}, one line each (no bar, no files).
     *
     * @param out the stream
     * @return the listener
     */
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

    /**
     * Every listener of {@code all}, in order.
     *
     * @param all the listeners
     * @return a listener forwarding each event to all of them
     */
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
