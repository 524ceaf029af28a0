package fulgur.optim;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parameters that share optimizer settings: weight decay and a multiplier on the learning rate.
 *
 * @param params the parameters by name (copied)
 * @param weightDecay the decoupled weight decay, ≥ 0
 * @param lrScale the factor on the learning rate, ≥ 0
 */
public record ParamGroup(Map<String, Parameter> params, double weightDecay, double lrScale) {

    /**
     * Checks and copies.
     *
     * @throws IllegalArgumentException when weight decay or lr scale is negative
     */
    public ParamGroup {
        if (weightDecay < 0 || lrScale < 0) {
            throw new IllegalArgumentException(
                    "ParamGroup: weight decay and lr scale must be >= 0, got " + weightDecay + ", " + lrScale);
        }
        params = new LinkedHashMap<>(params);
    }

    /**
     * One group with every parameter.
     *
     * @param m the model
     * @param weightDecay the weight decay
     * @return the group
     */
    public static List<ParamGroup> all(Module m, double weightDecay) {
        return List.of(new ParamGroup(m.namedParameters(), weightDecay, 1));
    }

    /**
     * Two groups: weight decay on matrices, none on norms, biases and other parameters marked so.
     *
     * @param m the model
     * @param weightDecay the weight decay of the matrices
     * @return the two groups
     */
    public static List<ParamGroup> decayAndNoDecay(Module m, double weightDecay) {
        Map<String, Parameter> decay = new LinkedHashMap<>();
        Map<String, Parameter> noDecay = new LinkedHashMap<>();
        m.namedParameters().forEach((n, p) -> (p.decay() ? decay : noDecay).put(n, p));
        return List.of(new ParamGroup(decay, weightDecay, 1), new ParamGroup(noDecay, 0, 1));
    }
}
