package fulgur.avvp;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.tensor.Tensor;
import java.util.Map;

/**
 * A model for audio-visual video parsing that the AVVP trainer and evaluator can drive: the counterpart of
 * {@link fulgur.models.CausalLM} for this task.
 */
public interface AvvpModel extends AutoCloseable {

    /** The parameter tree (for checkpoints). */
    Module module();

    /** The parameters the optimizer updates (fixed ones, such as given label embeddings, left out). */
    default Map<String, Parameter> trainableParameters() {
        return module().namedParameters();
    }

    AvvpClasses classes();

    AvvpDataset.Dims dims();

    /** The training loss of a batch: "loss" (the total the optimizer minimises) and its named terms. */
    Map<String, Tensor> loss(AvvpBatch batch);

    /** Probabilities for a batch (call in evaluation mode, without gradients). */
    AvvpPrediction predict(AvvpBatch batch);

    /** How many random streams the model has drawn (dropout masks), saved with checkpoints. */
    default long randomCounter() {
        return 0;
    }

    /** Continues the model's random streams from a saved {@link #randomCounter()}, so a resumed run draws the same masks. */
    default void advanceRandomCounter(long counter) {}

    /** The model's config.json text. */
    String configJson();

    long parameterCount();

    /** One line for logs. */
    String describe();

    @Override
    void close();
}
