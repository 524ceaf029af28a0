package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.autograd.PartialGrads;
import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.tensor.Tensor;

/** RMSNorm (with or without gain) and LayerNorm over the last axis. */
public final class Norms {
    private Norms() {}

    /** x / sqrt(mean(x²) + eps), times gain when gain is not null. */
    public static Tensor rmsNorm(Tensor x, Tensor gain, double eps) {
        Indexing.checkAlive("rmsNorm", x, gain);
        Backend be = Backends.of(x);
        Tensor[] r = be.norm(x, gain, null, eps, true);
        return recordRmsNorm(be, x, gain, r[0], r[2]);
    }

    private static Tensor recordRmsNorm(Backend be, Tensor x, Tensor gain, Tensor y, Tensor rstd) {
        return Autograd.record("rmsNorm", y, new Tensor[] {x, gain}, (g, partial) -> {
            Tensor[] d = be.normBackward(x, gain, null, rstd, g, false, foldable(partial, x));
            return new Tensor[] {d[0], d[1]};
        });
    }

    /**
     * A pre-norm block's residual sum and the next norm: {h = x + y, rmsNorm(h, gain, eps)}. One pass on a device with
     * {@link ResidualNormKernels} that take the arguments (x and y of one shape and dtype); {@link Elementwise#add}
     * then {@link #rmsNorm} otherwise. Either way both results and their gradients are those of the composed form.
     */
    public static Tensor[] addRmsNorm(Tensor x, Tensor y, Tensor gain, double eps) {
        Indexing.checkAlive("addRmsNorm", x, y, gain);
        boolean alike = x.sameShape(y) && x.dtype() == y.dtype() && x.device().equals(y.device());
        ResidualNormKernels kn = alike ? fulgur.backend.Kernels.find(ResidualNormKernels.class, x.device()) : null;
        if (kn == null || !kn.supports(x, y, gain)) {
            Tensor h = Elementwise.add(x, y);
            return new Tensor[] {h, rmsNorm(h, gain, eps)};
        }
        Tensor[] r = kn.forward(x, y, gain, eps);
        Tensor h = Autograd.record("add", r[0], new Tensor[] {x, y}, g -> new Tensor[] {g, g});
        return new Tensor[] {h, recordRmsNorm(Backends.of(x), h, gain, r[1], r[2])};
    }

    /**
     * The gradient summed so far for x (a pre-norm block's residual stream: the norm's backward runs after the residual
     * sum's) when its dtype is x's, taken so that the norm's backward writes the sum; null otherwise.
     */
    private static Tensor foldable(PartialGrads partial, Tensor x) {
        Tensor p = partial.peek(0);
        return p != null && p.dtype() == x.dtype() && p.sameShape(x) ? partial.take(0) : null;
    }

    /**
     * RMSNorm then a gate: rmsNorm(x, gain, eps) ⊙ act(z). One pass on a device with {@link GatedNormKernels} (x and z
     * of one shape and dtype); composed from {@link #rmsNorm}, the activation and a broadcasting product otherwise.
     */
    public static Tensor rmsNormGated(Tensor x, Tensor gain, double eps, Tensor z, GatedNormKernels.Gate act) {
        Indexing.checkAlive("rmsNormGated", x, gain, z);
        boolean alike = x.sameShape(z) && x.dtype() == z.dtype() && x.device().equals(z.device());
        GatedNormKernels kn = alike ? fulgur.backend.Kernels.find(GatedNormKernels.class, x.device()) : null;
        if (kn == null || !kn.supports(x, z)) {
            Tensor gate = switch (act) {
                case NONE -> z;
                case SILU -> Activations.silu(z);
                case SIGMOID -> Activations.sigmoid(z);
            };
            return Elementwise.mul(rmsNorm(x, gain, eps), gate);
        }
        Tensor[] r = kn.forward(x, gain, z, act, eps);
        Tensor rstd = r[1];
        return Autograd.record(
                "rmsNormGated", r[0], new Tensor[] {x, gain, z}, g -> kn.backward(x, gain, z, act, rstd, g));
    }

    public static Tensor layerNorm(Tensor x, Tensor weight, Tensor bias, double eps) {
        Indexing.checkAlive("layerNorm", x, weight, bias);
        Backend be = Backends.of(x);
        Tensor[] r = be.norm(x, weight, bias, eps, false);
        Tensor mean = r[1];
        Tensor rstd = r[2];
        return Autograd.record(
                "layerNorm",
                r[0],
                new Tensor[] {x, weight, bias},
                (g, partial) -> be.normBackward(x, weight, mean, rstd, g, bias != null, foldable(partial, x)));
    }
}
