package fulgur.optim;

import fulgur.autograd.GradMode;
import fulgur.nn.Parameter;
import fulgur.ops.Elementwise;
import fulgur.ops.gradnorm.SquaredNorm;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Gradient clipping by the global L2 norm over all parameters. */
public final class GradClip {
    private GradClip() {}

    /**
     * Scales all gradients by min(1, maxNorm / ‖g‖) and returns ‖g‖ before clipping (NaN/inf propagate as is).
     *
     * @param params the parameters whose gradients are clipped (those without one are skipped)
     * @param maxNorm the largest global L2 norm, &gt; 0
     * @return the norm before clipping
     * @throws IllegalArgumentException when {@code maxNorm} ≤ 0
     */
    public static double clipGlobalNorm(Collection<Parameter> params, double maxNorm) {
        if (!(maxNorm > 0)) {
            throw new IllegalArgumentException("clipGlobalNorm: maxNorm must be > 0, got " + maxNorm);
        }
        double total = globalNorm(params);
        if (!Double.isFinite(total) || total <= maxNorm) {
            return total;
        }
        double scale = maxNorm / (total + 1e-6);
        try (var ignored = GradMode.noGrad();
                Scope tmp = Scope.open("clip")) {
            for (Parameter p : params) {
                Tensor g = p.grad();
                if (g != null) {
                    g.copyFrom(g.mul(scale));
                }
            }
        }
        return total;
    }

    /**
     * The global L2 norm of the parameters' gradients, read on the host.
     *
     * @param params the parameters (those without a gradient are skipped)
     * @return ‖g‖
     */
    public static double globalNorm(Collection<Parameter> params) {
        // the gradients of each device summed there, the devices' sums on the host
        Map<fulgur.tensor.Device, List<Tensor>> byDevice = new LinkedHashMap<>();
        for (Tensor g : grads(params)) {
            byDevice.computeIfAbsent(g.device(), d -> new ArrayList<>()).add(g);
        }
        double sq = 0;
        try (Scope tmp = Scope.open("norm")) {
            for (List<Tensor> grads : byDevice.values()) {
                sq += SquaredNorm.of(grads).item();
            }
        }
        return Math.sqrt(sq);
    }

    /**
     * {@link #clipGlobalNorm} (or with {@code maxNorm} ≤ 0 just the norm) without reading anything on the host, so that a
     * captured training step can contain it: returns ‖g‖ as an f64 scalar tensor on the gradients' device, and with
     * maxNorm > 0 scales the gradients in place by min(1, maxNorm / (‖g‖ + 1e-6)) — the same factor as clipGlobalNorm;
     * a non-finite norm leaves the gradients non-finite. The sum of squares runs in f64 in parameter order.
     *
     * @param params the parameters (those without a gradient are skipped)
     * @param maxNorm the largest global norm, or ≤ 0 to only measure it
     * @return ‖g‖ before clipping, an f64 scalar on the gradients' device
     * @throws IllegalStateException when no parameter has a gradient
     */
    public static Tensor clipGlobalNormOnDevice(Collection<Parameter> params, double maxNorm) {
        List<Tensor> grads = grads(params);
        if (grads.isEmpty()) {
            throw new IllegalStateException("clipGlobalNormOnDevice: no parameter has a gradient");
        }
        try (var ignored = GradMode.noGrad()) {
            Tensor norm = SquaredNorm.of(grads).sqrt();
            if (maxNorm > 0) {
                fulgur.tensor.Device d = norm.device();
                Tensor scale = Elementwise.minimum(
                        Elementwise.div(Tensor.full(DType.F64, d, maxNorm), norm.add(1e-6)),
                        Tensor.full(DType.F64, d, 1.0));
                for (Parameter p : params) {
                    Tensor g = p.grad();
                    if (g != null) {
                        g.copyFrom(g.mul(scale.to(g.dtype())));
                    }
                }
            }
            return norm;
        }
    }

    private static List<Tensor> grads(Collection<Parameter> params) {
        List<Tensor> out = new ArrayList<>();
        for (Parameter p : params) {
            if (p.grad() != null) {
                out.add(p.grad());
            }
        }
        return out;
    }
}
