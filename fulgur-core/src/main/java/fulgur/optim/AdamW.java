package fulgur.optim;

import fulgur.autograd.GradMode;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
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
 * parameters) and live in the root scope; the update runs as one fused backend kernel per parameter.
 */
public final class AdamW extends Optimizer {
    private final double beta1;
    private final double beta2;
    private final double eps;
    private final Map<Parameter, Tensor[]> moments = new IdentityHashMap<>();

    public AdamW(List<ParamGroup> groups, double lr, double beta1, double beta2, double eps) {
        super(groups, lr);
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || !(eps > 0)) {
            throw new IllegalArgumentException("AdamW: need 0 <= beta1, beta2 < 1 and eps > 0, got beta1=" + beta1 + ", beta2=" + beta2 + ", eps=" + eps);
        }
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
    }

    public AdamW(List<ParamGroup> groups, double lr) {
        this(groups, lr, 0.9, 0.999, 1e-8);
    }

    @Override
    public void step() {
        step++;
        try (var ignored = GradMode.noGrad()) {
            for (ParamGroup g : groups) {
                double groupLr = lr * g.lrScale();
                for (Parameter p : g.params().values()) {
                    Tensor grad = p.grad();
                    if (grad == null) {
                        continue;
                    }
                    Tensor[] mv = moments(p);
                    p.value().backend().adamw(p.value(), grad, mv[0], mv[1], groupLr, beta1, beta2, eps, g.weightDecay(), step);
                }
            }
        }
    }

    private Tensor[] moments(Parameter p) {
        return moments.computeIfAbsent(p, k -> {
            DType dt = k.value().dtype() == DType.F64 ? DType.F64 : DType.F32;
            return Scope.root().run(() -> new Tensor[] {
                Tensor.zeros(dt, k.value().device(), k.shape()), Tensor.zeros(dt, k.value().device(), k.shape())});
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

    /** Frees the moment buffers. */
    public void release() {
        moments.values().forEach(mv -> {
            mv[0].close();
            mv[1].close();
        });
        moments.clear();
    }
}
