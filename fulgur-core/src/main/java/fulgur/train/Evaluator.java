package fulgur.train;

import fulgur.models.CausalLM;
import java.util.Map;

/** Held-out evaluation run periodically by the trainer: named metrics such as "loss" or "accuracy". */
@FunctionalInterface
public interface Evaluator {
    /** The metrics of {@code model} on held-out data (called without gradients, the model in evaluation mode). */
    Map<String, Double> evaluate(CausalLM model);
}
