package fulgur.optim;

import fulgur.autograd.GradMode;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Collection;

/** Gradient clipping by the global L2 norm over all parameters. */
public final class GradClip {
    private GradClip() {}

    /** Scales all gradients by min(1, maxNorm / ‖g‖) and returns ‖g‖ before clipping (NaN/inf propagate as is). */
    public static double clipGlobalNorm(Collection<Parameter> params, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("clipGlobalNorm: maxNorm must be > 0, got " + maxNorm);
        }
        double total = globalNorm(params);
        if (!Double.isFinite(total) || total <= maxNorm) {
            return total;
        }
        double scale = maxNorm / (total + 1e-6);
        try (var ignored = GradMode.noGrad(); Scope tmp = Scope.open("clip")) {
            for (Parameter p : params) {
                Tensor g = p.grad();
                if (g != null) {
                    g.copyFrom(g.mul(scale));
                }
            }
        }
        return total;
    }

    public static double globalNorm(Collection<Parameter> params) {
        double sq = 0;
        try (var ignored = GradMode.noGrad(); Scope tmp = Scope.open("norm")) {
            for (Parameter p : params) {
                Tensor g = p.grad();
                if (g != null) {
                    sq += g.to(fulgur.tensor.DType.F64).pow(2).sum().item();
                }
            }
        }
        return Math.sqrt(sq);
    }
}
