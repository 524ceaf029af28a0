package fulgur.train;

import fulgur.autograd.GradMode;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.optim.AdamW;
import fulgur.optim.Optimizer;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Mixed-precision training: the model computes in a 16-bit dtype (bf16 by default) while an f32 master copy of every
 * floating parameter, and the optimizer's state, stay in f32.
 *
 * <pre>{@code
 * MixedPrecision mp = MixedPrecision.bf16(model);                  // parameters become bf16; f32 masters kept
 * AdamW opt = new AdamW(mp.masterGroups(ParamGroup.decayAndNoDecay(model, 0.1)), 3e-4);
 * loss.backward();                                                 // gradients arrive in f32 (the compute type)
 * mp.step(opt);                                                    // masters ← AdamW; parameters ← bf16(masters)
 * mp.zeroGrad();
 * }</pre>
 *
 * The model's parameters keep their names, so checkpoints and state dicts still work ({@link #masterStateDict()}
 * gives the f32 values). Gradients of 16-bit parameters are f32 already (the tape accumulates leaf gradients in the
 * compute type), so no loss scaling is needed for bf16.
 */
public final class MixedPrecision implements AutoCloseable {
    private final Module model;
    private final DType compute;
    private final Map<Parameter, Parameter> masters = new LinkedHashMap<>();
    private final Map<String, Parameter> masterByName = new LinkedHashMap<>();

    private MixedPrecision(Module model, DType compute) {
        if (compute != DType.BF16 && compute != DType.F16) {
            throw new IllegalArgumentException("MixedPrecision: compute dtype must be bf16 or f16, got " + compute);
        }
        this.model = model;
        this.compute = compute;
        try (var g = GradMode.noGrad()) {
            model.namedParameters().forEach((name, p) -> {
                if (!p.value().dtype().isFloating()) {
                    return;
                }
                Tensor master = Scope.root().run(() -> {
                    Tensor m = Tensor.empty(DType.F32, p.value().device(), p.shape());
                    m.copyFrom(p.value());
                    return m;
                });
                Parameter mp = new Parameter(master, p.decay());
                masters.put(p, mp);
                masterByName.put(name, mp);
                if (p.value().dtype() != compute) {
                    p.replace(p.value().detach().to(compute));
                }
            });
        }
    }

    /**
     * Converts the model's floating parameters to bf16 and keeps f32 masters.
     *
     * @param model the model, converted in place
     * @return the masters
     */
    public static MixedPrecision bf16(Module model) {
        return new MixedPrecision(model, DType.BF16);
    }

    /**
     * Converts the model's floating parameters to {@code compute} and keeps f32 masters.
     *
     * @param model the model, converted in place
     * @param compute the 16-bit type (bf16 or f16)
     * @return the masters
     */
    public static MixedPrecision of(Module model, DType compute) {
        return new MixedPrecision(model, compute);
    }

    /** {@return the type the model's parameters are held in} */
    public DType computeType() {
        return compute;
    }

    /**
     * The same groups over the f32 master parameters (for the optimizer).
     *
     * @param modelGroups groups over the model's parameters
     * @return the same groups over the masters
     */
    public List<ParamGroup> masterGroups(List<ParamGroup> modelGroups) {
        List<ParamGroup> out = new ArrayList<>();
        for (ParamGroup g : modelGroups) {
            Map<String, Parameter> ps = new LinkedHashMap<>();
            g.params().forEach((n, p) -> ps.put(n, masters.getOrDefault(p, p)));
            out.add(new ParamGroup(ps, g.weightDecay(), g.lrScale()));
        }
        return out;
    }

    /**
     * The master of a model parameter (the parameter itself when it is not floating).
     *
     * @param p a model parameter
     * @return its master
     */
    public Parameter master(Parameter p) {
        return masters.getOrDefault(p, p);
    }

    /** Hands the model gradients to the masters (no copy: they are f32 already; converted in the current scope otherwise). */
    public void syncGrads() {
        try (var g = GradMode.noGrad()) {
            masters.forEach((p, m) -> {
                Tensor grad = p.grad();
                if (grad == null) {
                    m.value().setGrad(null);
                } else if (grad.dtype() == DType.F32) {
                    m.value().setGrad(grad);
                } else {
                    m.value().setGrad(grad.to(DType.F32).detach()); // in the caller's scope
                }
            });
        }
    }

    /** Copies the masters into the model's 16-bit parameters. */
    public void copyMastersToModel() {
        try (var g = GradMode.noGrad()) {
            masters.forEach((p, m) -> p.value().copyFrom(m.value()));
        }
    }

    /**
     * AdamW's update of the masters, their gradients in place ({@link #syncGrads}, then any clipping), writing the
     * model's 16-bit parameters in the same pass ({@link AdamW#update(Map)}): what {@link AdamW#update()} and then
     * {@link #copyMastersToModel()} do, without a second pass over the weights.
     *
     * @param opt AdamW over the masters, its step counted ({@link AdamW#advance()})
     */
    public void updateAndCopy(AdamW opt) {
        Map<Parameter, Tensor> copies = new IdentityHashMap<>(); // read each time: a parameter's value may be replaced
        masters.forEach((p, m) -> copies.put(m, p.value()));
        opt.update(copies);
    }

    /**
     * One optimizer step on the masters (built over {@link #masterGroups}), then the 16-bit copies.
     *
     * @param opt an optimizer over the masters
     */
    public void step(Optimizer opt) {
        syncGrads();
        if (opt instanceof AdamW adam) {
            adam.advance();
            updateAndCopy(adam);
        } else {
            opt.step();
            copyMastersToModel();
        }
    }

    /** Drops the gradients of the model parameters and the masters. */
    public void zeroGrad() {
        masters.forEach((p, m) -> {
            p.zeroGrad();
            m.zeroGrad();
        });
    }

    /**
     * The f32 master values by parameter name (for checkpoints).
     *
     * @return the values by name
     */
    public Map<String, Tensor> masterStateDict() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        masterByName.forEach((n, m) -> out.put(n, m.value()));
        return out;
    }

    /** {@return the model} */
    public Module model() {
        return model;
    }

    /** Frees the master copies (the model keeps its 16-bit parameters). */
    @Override
    public void close() {
        masters.values().forEach(Parameter::release);
        masters.clear();
        masterByName.clear();
    }
}
