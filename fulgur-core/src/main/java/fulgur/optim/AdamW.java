package fulgur.optim;

import fulgur.autograd.GradMode;
import fulgur.nn.Parameter;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.adamw.AdamWUpdate;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter) and bias correction:
 * p ← p − lr·wd·p; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p − lr·m̂/(√v̂ + ε). Moments are f32 (f64 for f64
 * parameters) and live in the root scope; the update runs as one fused multi-tensor backend update, reading the
 * step's learning rate and bias corrections from a small device tensor ({@link #advance()}, {@link #update()}).
 */
public final class AdamW extends Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final Map<Parameter, Tensor[]> moments = new IdentityHashMap<>();
    /** Per device: [lr, 1 − β₁ᵗ, 1 − β₂ᵗ] of the current step (f64), read by the update kernels. */
    private final Map<Device, Tensor> schedules = new LinkedHashMap<>();

    /**
     * An optimizer over {@code groups}.
     *
     * @param groups the parameter groups, each parameter in one group
     * @param lr the learning rate (each group scales it by its lrScale)
     * @param beta1 the decay of the first moment, in [0, 1)
     * @param beta2 the decay of the second moment, in [0, 1)
     * @param eps added to √v̂, > 0
     * @throws IllegalArgumentException for a learning rate, beta or eps out of range, or a parameter in two groups
     */
    public AdamW(List<ParamGroup> groups, double lr, double beta1, double beta2, double eps) {
        super(groups, lr);
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || !(eps > 0)) {
            throw new IllegalArgumentException("AdamW: need 0 <= beta1, beta2 < 1 and eps > 0, got beta1=" + beta1
                    + ", beta2=" + beta2 + ", eps=" + eps);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    /**
     * An optimizer with β₁ = 0.9, β₂ = 0.999 and ε = 1e-8.
     *
     * @param groups the parameter groups, each parameter in one group
     * @param lr the learning rate
     * @throws IllegalArgumentException for a negative or non-finite learning rate, or a parameter in two groups
     */
    public AdamW(List<ParamGroup> groups, double lr) {
        this(groups, lr, 0.9, 0.999, 1e-8);
    }

    @Override
    public void step() {
        advance();
        update();
    }

    /**
     * Counts the next step and writes its learning rate and bias corrections into the schedule tensor of each device
     * the parameters live on (a stream-ordered copy from the host); {@link #update()} reads them there.
     */
    public void advance() {
        step++;
        double[] values = {lr, 1 - Math.pow(beta1, step), 1 - Math.pow(beta2, step)};
        try (Scope tmp = Scope.open("adamw schedule")) {
            Tensor host = Tensor.of(values, 3);
            for (Parameter p : parameters()) {
                Device d = p.value().device();
                if (!schedules.containsKey(d)) {
                    schedules.put(d, Scope.root().run(() -> Tensor.zeros(DType.F64, d, 3)));
                }
            }
            schedules.values().forEach(t -> t.copyFrom(host));
        }
    }

    /**
     * The update with the values of the last {@link #advance()}: device work only (one multi-tensor update per device
     * over the parameters that have a gradient), so a captured training step can contain it while {@code advance}
     * runs before each replay.
     */
    public void update() {
        update(Map.of());
    }

    /**
     * {@link #update()}, writing each parameter that has an entry in {@code copies} into that tensor too, in the
     * update's own pass: the 16-bit model weights of mixed-precision masters ({@code MixedPrecision}), rounded from the
     * new f32 values as a separate copy would round them.
     *
     * @param copies tensors of their parameter's shape, contiguous, by parameter
     */
    public void update(Map<Parameter, Tensor> copies) {
        if (step == 0) {
            throw new IllegalStateException(
                    "AdamW.update: call advance() first (it sets the step's learning rate and bias corrections)");
        }
        Map<Device, List<AdamWKernels.Slot>> byDevice = new LinkedHashMap<>();
        try (var ignored = GradMode.noGrad()) {
            for (ParamGroup g : groups) {
                for (Parameter p : g.params().values()) {
                    Tensor grad = p.grad();
                    if (grad == null) {
                        continue;
                    }
                    Tensor[] mv = moments(p);
                    byDevice.computeIfAbsent(p.value().device(), d -> new ArrayList<>())
                            .add(new AdamWKernels.Slot(
                                    p.value(), grad, mv[0], mv[1], g.lrScale(), g.weightDecay(), copies.get(p)));
                }
            }
            byDevice.forEach((d, slots) -> AdamWUpdate.apply(slots, schedules.get(d), beta1, beta2, eps));
        }
    }

    private Tensor[] moments(Parameter p) {
        return moments.computeIfAbsent(p, k -> {
            DType dt = k.value().dtype() == DType.F64 ? DType.F64 : DType.F32;
            return Scope.root().run(() -> new Tensor[] {
                Tensor.zeros(dt, k.value().device(), k.shape()),
                Tensor.zeros(dt, k.value().device(), k.shape())
            });
        });
    }

    @Override
    public Map<String, Tensor> state() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (ParamGroup g : groups) {
            g.params().forEach((n, p) -> {
                Tensor[] mv = moments.get(p);
                if (mv != null) {
                    out.put(n + ".exp_avg", mv[0]);
                    out.put(n + ".exp_avg_sq", mv[1]);
                }
            });
        }
        return out;
    }

    @Override
    public void loadState(Map<String, Tensor> state, long stepCount) {
        List<String> problems = new ArrayList<>();
        for (ParamGroup g : groups) {
            g.params().forEach((n, p) -> {
                Tensor m = state.get(n + ".exp_avg");
                Tensor v = state.get(n + ".exp_avg_sq");
                if (m == null && v == null) {
                    return; // never stepped
                }
                if (m == null || v == null) {
                    problems.add("incomplete moments for " + n);
                } else if (!m.sameShape(p.value()) || !v.sameShape(p.value())) {
                    problems.add("mis-shaped moments for " + n + ": expected " + Shape.str(p.shape()));
                }
            });
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("AdamW.loadState: " + String.join("; ", problems));
        }
        for (ParamGroup g : groups) {
            g.params().forEach((n, p) -> {
                Tensor m = state.get(n + ".exp_avg");
                if (m != null) {
                    Tensor[] mv = moments(p);
                    mv[0].copyFrom(m);
                    mv[1].copyFrom(state.get(n + ".exp_avg_sq"));
                }
            });
        }
        this.step = stepCount;
    }

    /** Frees the moment and schedule buffers. */
    public void release() {
        schedules.values().forEach(Tensor::close);
        schedules.clear();
        moments.values().forEach(mv -> {
            mv[0].close();
            mv[1].close();
        });
        moments.clear();
    }
}
