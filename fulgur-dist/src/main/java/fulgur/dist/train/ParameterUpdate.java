package fulgur.dist.train;

import fulgur.autograd.Autograd;
import fulgur.optim.Optimizer;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;
import java.util.function.Supplier;

/**
 * How the ranks of a data-parallel run turn their gradients into parameter updates: synchronous data parallelism
 * (with experts split or not), ZeRO, or CO2. Every method that communicates is collective over the run's world and
 * is called by every rank at the same step; the leading rank (world rank 0) writes checkpoints and evaluates.
 */
interface ParameterUpdate extends AutoCloseable {

    /** Drops the last step's gradients. */
    void zeroGrad();

    /** The backward of one micro-batch's (weighted) loss, communicating gradients as this update does. */
    void backward(Tensor loss, boolean lastMicroBatch, Autograd.Free free);

    /**
     * The backward of one chunk of a micro-batch walked in chunks, from several outputs with their seeds (the chunk's
     * weighted loss and its final states); {@code lastMicroBatch}: the pass that completes the step's gradients;
     * {@code keep}: forward tensors read afterwards.
     */
    default void backward(
            List<Tensor> roots, List<Tensor> seeds, boolean lastMicroBatch, Autograd.Free free, Tensor... keep) {
        throw new UnsupportedOperationException(
                getClass().getSimpleName() + " does not take a sequence walked in chunks");
    }

    /**
     * The optimizer step at {@code lr}, clipping the gradient norm to {@code gradClip} (0: none); returns the norm before
     * clipping. {@code beforeUpdate} gets that norm before any parameter changes, the same value on every rank (it may
     * throw to stop the run there, all ranks together).
     */
    double step(double lr, double gradClip, DoubleConsumer beforeUpdate);

    /** Whether each data replica updates its own parameters (CO2): a replica's loss is then the mean over its own rows. */
    default boolean localUpdates() {
        return false;
    }

    /** Runs {@code body} with the model holding the parameters to evaluate (collective when they must be agreed on first). */
    default <T> T evaluate(Supplier<T> body) {
        return body.get();
    }

    /**
     * Writes the checkpoint: the leading rank writes the files of an unsharded run (plus this update's own state, if any)
     * and copies {@code companions} (the tokenizer's files) in with them.
     */
    void save(Path dir, String configJson, Map<String, Object> trainerState, List<Path> companions) throws IOException;

    /** Restores the optimizer state (and this update's own) from a checkpoint whose weights the model already holds. */
    void load(Path dir, Map<String, Object> trainerState) throws IOException;

    /** What the checkpoint's trainer state records of this update (for the log and for resuming). */
    Map<String, Object> describe();

    @Override
    void close();

    /** An optimizer that only hands a fixed state to {@link fulgur.train.Checkpoint#save}, or takes one in. */
    final class FixedState extends Optimizer {
        private final Map<String, Tensor> state;
        private final java.util.function.BiConsumer<Map<String, Tensor>, Long> load;

        FixedState(Map<String, Tensor> state, long stepCount) {
            super(List.of(), 0);
            this.state = state;
            this.step = stepCount;
            this.load = null;
        }

        /** Passes what {@link fulgur.train.Checkpoint#loadOptimizer} reads to {@code load}. */
        FixedState(java.util.function.BiConsumer<Map<String, Tensor>, Long> load) {
            super(List.of(), 0);
            this.state = Map.of();
            this.load = load;
        }

        @Override
        public void step() {
            throw new UnsupportedOperationException("a checkpoint's optimizer state does not step");
        }

        @Override
        public Map<String, Tensor> state() {
            return state;
        }

        @Override
        public void loadState(Map<String, Tensor> s, long stepCount) {
            if (load == null) {
                throw new UnsupportedOperationException("this optimizer state is only saved");
            }
            load.accept(s, stepCount);
        }
    }
}
