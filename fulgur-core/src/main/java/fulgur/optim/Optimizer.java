package fulgur.optim;

import fulgur.nn.Parameter;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Updates parameters from their gradients; state can be exported and restored for checkpoints. */
public abstract class Optimizer {
    /** The parameter groups, in the order given. */
    protected final List<ParamGroup> groups;
    /** The base learning rate of the next step. */
    protected double lr;
    /** The number of steps taken. */
    protected long step;

    /**
     * An optimizer over {@code groups}.
     *
     * @param groups the parameter groups, each parameter in one group
     * @param lr the learning rate
     * @throws IllegalArgumentException for a negative or non-finite learning rate, or a parameter in two groups
     */
    protected Optimizer(List<ParamGroup> groups, double lr) {
        if (!(lr >= 0) || Double.isInfinite(lr)) {
            throw new IllegalArgumentException(
                    getClass().getSimpleName() + ": learning rate must be finite and >= 0, got " + lr);
        }
        this.groups = List.copyOf(groups);
        this.lr = lr;
        Map<String, Parameter> seen = new LinkedHashMap<>();
        for (ParamGroup g : groups) {
            g.params().forEach((n, p) -> {
                if (seen.put(n, p) != null) {
                    throw new IllegalArgumentException(
                            getClass().getSimpleName() + ": parameter '" + n + "' appears in two groups");
                }
            });
        }
    }

    /** One update from the current gradients (parameters without a gradient are skipped). */
    public abstract void step();

    /** Clears every parameter's gradient. */
    public void zeroGrad() {
        for (ParamGroup g : groups) {
            g.params().values().forEach(Parameter::zeroGrad);
        }
    }

    /** {@return the base learning rate} */
    public double lr() {
        return lr;
    }

    /**
     * Sets the base learning rate (a schedule calls it before each step).
     *
     * @param lr the new rate
     */
    public void setLr(double lr) {
        this.lr = lr;
    }

    /** {@return the number of steps taken} */
    public long stepCount() {
        return step;
    }

    /** {@return every parameter of every group} */
    public List<Parameter> parameters() {
        List<Parameter> out = new ArrayList<>();
        groups.forEach(g -> out.addAll(g.params().values()));
        return out;
    }

    /**
     * Optimizer state tensors by name (e.g. "layers.0.w.exp_avg"), for checkpoints.
     *
     * @return the state by name
     */
    public abstract Map<String, Tensor> state();

    /**
     * Restores state saved by {@link #state()} and the step count; errors list what is missing or mis-shaped.
     *
     * @param state the tensors by name
     * @param stepCount the number of steps taken
     * @throws IllegalArgumentException when a tensor is missing or mis-shaped
     */
    public abstract void loadState(Map<String, Tensor> state, long stepCount);
}
