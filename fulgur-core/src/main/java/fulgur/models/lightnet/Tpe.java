package fulgur.models.lightnet;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Norms;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.ops.lightnet.Toeplitz;
import fulgur.tensor.Tensor;

/**
 * xmixers' Tpe along one axis: per head h, o_t = (q_h·k_h) Σ_{s≤t} σ(w_h)^{t−s} x_s with learnable vectors q, k [D]
 * and decay logits w ("log_decay") [H]; then an RMSNorm per head group (norm.weight [D]) and o_proj. Names as
 * xmixers: q, k, log_decay, norm.weight, o_proj.weight.
 */
final class Tpe extends Module {
    private final Parameter q;
    private final Parameter k;
    private final Parameter logDecay;
    private final Parameter normWeight;
    private final Linear oProj;
    private final int heads;
    private final int headDim;
    private final double eps;

    Tpe(int dim, int heads, double eps, LightNetInit init) {
        this.heads = heads;
        this.headDim = dim / heads;
        this.eps = eps;
        q = param("q", init.rng().normal(0, 1, dim), false);
        k = param("k", init.rng().normal(0, 1, dim), false);
        logDecay = param("log_decay", init.rng().normal(0, 1, heads), false);
        normWeight = child("norm", new GroupGain(dim)).weight;
        oProj = child("o_proj", init.linear(dim, dim));
    }

    /** x [B, L, D] mixed along L → [B, L, D]. */
    Tensor forward(Tensor x) {
        int b = x.size(0), l = x.size(1), d = x.size(2);
        Tensor coef = Reductions.sum(
                Views.reshape(Elementwise.mul(q.value(), k.value()), heads, headDim), new int[] {1}, false);
        Tensor o =
                Toeplitz.causal(Views.reshape(x, b, l, heads, headDim), coef, Activations.logSigmoid(logDecay.value()));
        Tensor normed = Elementwise.mul(Views.reshape(Norms.rmsNorm(o, null, eps), b, l, d), normWeight.value());
        return oProj.forward(normed);
    }

    /** Holds the per-channel gain of the grouped RMSNorm under the name "norm.weight". */
    private static final class GroupGain extends Module {
        final Parameter weight;

        GroupGain(int dim) {
            weight = param("weight", Tensor.ones(dim), false);
        }
    }
}
