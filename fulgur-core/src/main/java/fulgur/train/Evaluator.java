package fulgur.train;

import fulgur.models.CausalLM;
import java.util.Map;

/** Held-out evaluation run periodically by the trainer: named metrics such as "loss" or "accuracy". */
@FunctionalInterface
public interface Evaluator {
    Map<String, Double> evaluate(CausalLM model);
}
