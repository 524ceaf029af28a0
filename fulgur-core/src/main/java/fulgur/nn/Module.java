package fulgur.nn;

import fulgur.tensor.DType;
import fulgur.tensor.Finite;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A node of the parameter tree: named parameters and named child modules, registered in construction order.
 * Names join with dots ("layers.0.attn.qkvu_proj.weight"), which is what state dicts and checkpoints use.
 */
public abstract class Module implements AutoCloseable {
    private final Map<String, Parameter> params = new LinkedHashMap<>();
    private final Map<String, Module> children = new LinkedHashMap<>();
    private boolean training = true;

    /** An empty module in training mode; subclasses register their parameters and children as they construct. */
    protected Module() {}

    /**
     * Registers a parameter.
     *
     * @param name its name, unique among this module's parameters and children, without dots
     * @param init its initial value, which the parameter takes over
     * @param decay whether weight decay applies to it
     * @return the parameter
     * @throws IllegalArgumentException when the name is taken or malformed
     */
    protected Parameter param(String name, Tensor init, boolean decay) {
        checkName(name);
        Parameter p = new Parameter(init, decay);
        params.put(name, p);
        return p;
    }

    /**
     * Registers a parameter, with weight decay for matrices and none for vectors.
     *
     * @param name its name, unique among this module's parameters and children, without dots
     * @param init its initial value, which the parameter takes over
     * @return the parameter
     * @throws IllegalArgumentException when the name is taken or malformed
     */
    protected Parameter param(String name, Tensor init) {
        return param(name, init, init.ndim() >= 2);
    }

    /**
     * Registers a child module.
     *
     * @param <M> its type
     * @param name its name, unique among this module's parameters and children, without dots
     * @param module the child
     * @return {@code module}
     * @throws IllegalArgumentException when the name is taken or malformed
     */
    protected <M extends Module> M child(String name, M module) {
        checkName(name);
        children.put(name, module);
        return module;
    }

    private void checkName(String name) {
        if (name.isEmpty() || name.contains(".") || params.containsKey(name) || children.containsKey(name)) {
            throw new IllegalArgumentException(
                    "module " + getClass().getSimpleName() + ": invalid or duplicate member name '" + name + "'");
        }
    }

    /**
     * All parameters with their dotted names, in registration order.
     *
     * @return the parameters by name
     */
    public Map<String, Parameter> namedParameters() {
        Map<String, Parameter> out = new LinkedHashMap<>();
        collect("", out);
        return out;
    }

    private void collect(String prefix, Map<String, Parameter> out) {
        params.forEach((n, p) -> out.put(prefix + n, p));
        children.forEach((n, m) -> m.collect(prefix + n + ".", out));
    }

    /**
     * Every module below this one (not itself) with its dotted name, depth first in registration order.
     *
     * @return the modules by name
     */
    public Map<String, Module> namedModules() {
        Map<String, Module> out = new LinkedHashMap<>();
        collectModules("", out);
        return out;
    }

    private void collectModules(String prefix, Map<String, Module> out) {
        children.forEach((n, m) -> {
            out.put(prefix + n, m);
            m.collectModules(prefix + n + ".", out);
        });
    }

    /** {@return every parameter, in registration order} */
    public List<Parameter> parameters() {
        return new ArrayList<>(namedParameters().values());
    }

    /** {@return the total number of parameter elements} */
    public long parameterCount() {
        long n = 0;
        for (Parameter p : namedParameters().values()) {
            n += p.numel();
        }
        return n;
    }

    /**
     * The parameters' current values by name (views, not copies).
     *
     * @return the values by name
     */
    public Map<String, Tensor> stateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        namedParameters().forEach((n, p) -> out.put(n, p.value()));
        return out;
    }

    /**
     * Copies values in by name. With {@code strict}, missing and unexpected names are errors; mis-shaped tensors,
     * integer tensors for floating-point parameters and tensors holding NaN or an infinity always are (a model must
     * never start from non-finite weights). The error lists every problem at once.
     *
     * @param state values by dotted name
     * @param strict whether missing and unexpected names are errors
     * @throws IllegalArgumentException listing every problem found
     */
    public void loadStateDict(Map<String, Tensor> state, boolean strict) {
        Map<String, Parameter> own = namedParameters();
        List<String> problems = new ArrayList<>();
        for (var e : own.entrySet()) {
            Tensor t = state.get(e.getKey());
            DType want = e.getValue().value().dtype();
            if (t == null) {
                if (strict) {
                    problems.add("missing: " + e.getKey() + " "
                            + Shape.str(e.getValue().shape()));
                }
            } else if (!java.util.Arrays.equals(t.shape(), e.getValue().shape())) {
                problems.add("mis-shaped: " + e.getKey() + " expected "
                        + Shape.str(e.getValue().shape()) + ", got " + Shape.str(t.shape()));
            } else if (want.isFloating() && !t.dtype().isFloating()) {
                problems.add("wrong dtype: " + e.getKey() + " is " + t.dtype().safetensorsName()
                        + ", expected a floating-point tensor (F32, BF16, F16 or F64)");
            } else {
                String bad = Finite.describe(e.getKey(), t);
                if (bad != null) {
                    problems.add("non-finite: " + bad);
                }
            }
        }
        if (strict) {
            for (String k : state.keySet()) {
                if (!own.containsKey(k)) {
                    problems.add("unexpected: " + k);
                }
            }
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException(
                    "loadStateDict into " + getClass().getSimpleName() + ": " + String.join("; ", problems));
        }
        own.forEach((n, p) -> {
            Tensor t = state.get(n);
            if (t != null) {
                p.load(t, n);
            }
        });
    }

    /**
     * Moves every parameter to {@code device} (same dtype), replacing each parameter's tensor; the old storage is
     * freed. Gradients are dropped. Returns this module.
     *
     * @param device the target device
     * @return this module
     */
    public Module to(fulgur.tensor.Device device) {
        try (var g = fulgur.autograd.GradMode.noGrad()) {
            for (Parameter p : namedParameters().values()) {
                if (!p.value().device().equals(device)) {
                    p.replace(p.value().detach().to(device));
                }
            }
        }
        return this;
    }

    /**
     * Converts every floating parameter to {@code dtype} (same device), as {@link #to(fulgur.tensor.Device)}.
     *
     * @param dtype the target floating type
     * @return this module
     */
    public Module to(fulgur.tensor.DType dtype) {
        try (var g = fulgur.autograd.GradMode.noGrad()) {
            for (Parameter p : namedParameters().values()) {
                if (p.value().dtype() != dtype && p.value().dtype().isFloating()) {
                    p.replace(p.value().detach().to(dtype));
                }
            }
        }
        return this;
    }

    /**
     * The device of the parameters (CPU for a module without parameters).
     *
     * @return the device
     */
    public fulgur.tensor.Device device() {
        for (Parameter p : namedParameters().values()) {
            return p.value().device();
        }
        return fulgur.tensor.Device.CPU;
    }

    /** Clears every parameter's gradient. */
    public void zeroGrad() {
        namedParameters().values().forEach(Parameter::zeroGrad);
    }

    /** {@return whether this module is in training mode} */
    public boolean isTraining() {
        return training;
    }

    /**
     * Training mode (dropout active) or evaluation mode, for this module and all children.
     *
     * @param on true for training, false for evaluation
     */
    public void train(boolean on) {
        training = on;
        children.values().forEach(m -> m.train(on));
    }

    /** Frees every parameter's storage. */
    @Override
    public void close() {
        namedParameters().values().forEach(Parameter::release);
    }
}
