package fulgur.optim;

import fulgur.autograd.GradMode;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** SGD with (optionally Nesterov) momentum and decoupled weight decay: b ← μb + g; p ← p − lr·(b or g + μb) − lr·wd·p. */
public final class Sgd extends Optimizer {
    private final double momentum;
    private final boolean nesterov;
    private final Map<Parameter, Tensor> buffers = new IdentityHashMap<>();

    /**
     * An optimizer over {@code groups}.
     *
     * @param groups the parameter groups, each parameter in one group
     * @param lr the learning rate
     * @param momentum μ, in [0, 1) (0: plain SGD)
     * @param nesterov whether the step uses Nesterov momentum
     * @throws IllegalArgumentException for a learning rate or momentum out of range, or a parameter in two groups
     */
    public Sgd(List<ParamGroup> groups, double lr, double momentum, boolean nesterov) {
        super(groups, lr);
        if (momentum < 0 || momentum >= 1) {
            throw new IllegalArgumentException("Sgd: momentum must be in [0, 1), got " + momentum);
        }
        this.momentum = momentum;
        this.nesterov = nesterov;
    }

    @Override
    public void step() {
        step++;
        try (var ignored = GradMode.noGrad();
                Scope tmp = Scope.open("sgd")) {
            for (ParamGroup g : groups) {
                double groupLr = lr * g.lrScale();
                for (Parameter p : g.params().values()) {
                    Tensor grad = p.grad();
                    if (grad == null) {
                        continue;
                    }
                    Tensor update = grad;
                    if (momentum > 0) {
                        Tensor buf = buffers.get(p);
                        if (buf == null) {
                            buf = Scope.root().run(() -> grad.copy().detach());
                            buffers.put(p, buf);
                        } else {
                            buf.copyFrom(buf.mul(momentum).add(grad));
                        }
                        update = nesterov ? grad.add(buf.mul(momentum)) : buf;
                    }
                    Tensor w = p.value();
                    Tensor next = w.mul(1 - groupLr * g.weightDecay()).sub(update.mul(groupLr));
                    w.copyFrom(next);
                }
            }
        }
    }

    @Override
    public Map<String, Tensor> state() {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (ParamGroup g : groups) {
            g.params().forEach((n, p) -> {
                Tensor b = buffers.get(p);
                if (b != null) {
                    out.put(n + ".momentum_buffer", b);
                }
            });
        }
        return out;
    }

    @Override
    public void loadState(Map<String, Tensor> state, long stepCount) {
        for (ParamGroup g : groups) {
            g.params().forEach((n, p) -> {
                Tensor b = state.get(n + ".momentum_buffer");
                if (b != null) {
                    if (!b.sameShape(p.value())) {
                        throw new IllegalArgumentException(
                                "Sgd.loadState: mis-shaped momentum for " + n + ": expected " + Shape.str(p.shape()));
                    }
                    buffers.put(p, Scope.root().run(() -> b.copy().detach()));
                }
            });
        }
        this.step = stepCount;
    }
}
