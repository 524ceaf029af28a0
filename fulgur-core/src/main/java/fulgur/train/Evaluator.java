package fulgur.train;

import fulgur.models.CausalLM;
import java.util.Map;

/** Held-out evaluation run periodically by the trainer: named metrics such as "loss" or "accuracy". */
@FunctionalInterface
public interface Evaluator {
    /**
     * The metrics of {@code model} on held-out data (called without gradients, the model in evaluation mode).
     *
     * @param model the model
     * @return the metrics by name (e.g. "loss")
     */
    Map<String, Double> evaluate(CausalLM model);
}
