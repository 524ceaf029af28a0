package fulgur.autograd;

import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

/**
 * Activation checkpointing: a function (one layer) whose activations are not kept for the backward but made again
 * there. The forward runs it without recording and keeps only its input and outputs; the backward runs it once more
 * with recording on and differentiates that, so gradients are those of the plain call at the cost of one more forward,
 * and the memory of the function's activations is needed for one function at a time instead of all of them.
 *
 * <p>The function must compute the same thing both times (no randomness drawn from a counter that moves) and must
 * not hand its intermediate tensors to anyone: they are freed as soon as it returns.
 */
public final class Recompute {
    private Recompute() {}

    /**
     * {@code fn(x)} checkpointed. The first output carries x's gradient; any further outputs (e.g. an auxiliary loss
     * the function also produces) get theirs to it in the backward. {@code params} are the leaves fn reads besides x
     * (the layer's parameters): their gradients accumulate as usual.
     *
     * @param fn the function, whose first output depends on x
     * @param x the input
     * @param params the leaves fn reads besides x
     * @return fn's outputs, recorded as one node whose backward runs fn again
     */
    public static Tensor[] apply(Function<Tensor, Tensor[]> fn, Tensor x, List<Tensor> params) {
        List<Tensor> inputs = new ArrayList<>();
        inputs.add(x);
        inputs.addAll(params);
        Tensor[] in = inputs.toArray(Tensor[]::new);
        if (!Autograd.needsGrad(in)) {
            return fn.apply(x);
        }
        Tensor[] outs;
        try (Scope s = Scope.open("checkpointed");
                var off = GradMode.noGrad()) {
            outs = fn.apply(x);
            for (Tensor o : outs) {
                if (o != null) {
                    s.keep(o);
                }
            }
        }
        Tensor[] seeds = new Tensor[outs.length];
        Tensor main = Autograd.record("recompute", outs[0], in, g -> backward(fn, x, in.length, g, seeds));
        Tensor[] result = outs.clone();
        result[0] = main;
        for (int i = 1; i < outs.length; i++) {
            int slot = i;
            // a node reading the first output, so the engine reaches it (and stores its gradient) before the first
            // output's
            result[i] = outs[i] == null
                    ? null
                    : Autograd.record("recompute.output", outs[i], new Tensor[] {main}, g -> {
                        seeds[slot] = g.copy(); // the engine frees g once this returns
                        return new Tensor[] {null};
                    });
        }
        return result;
    }

    private static Tensor[] backward(Function<Tensor, Tensor[]> fn, Tensor x, int inputs, Tensor g, Tensor[] seeds) {
        Tensor[] grads = new Tensor[inputs];
        try (Scope s = Scope.open("recompute");
                var on = GradMode.enable()) {
            Tensor xl = x.detach().requiresGrad(x.requiresGrad());
            Tensor[] again = fn.apply(xl);
            List<Tensor> roots = new ArrayList<>();
            List<Tensor> rootSeeds = new ArrayList<>();
            roots.add(again[0]);
            rootSeeds.add(g);
            for (int i = 1; i < again.length; i++) {
                if (seeds[i] != null && again[i] != null && again[i].requiresGrad()) {
                    roots.add(again[i]);
                    rootSeeds.add(seeds[i]);
                }
            }
            if (again[0].requiresGrad()) {
                Autograd.backward(roots, rootSeeds, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS);
            }
            Tensor gx = xl.grad();
            if (gx != null) {
                // x's gradient goes on through the enclosing pass, which frees it once used: it is no parameter's
                // gradient
                Liveness.unmarkLeafGrad(gx);
            }
            grads[0] = gx;
        }
        java.util.Arrays.fill(seeds, null);
        return grads;
    }
}
