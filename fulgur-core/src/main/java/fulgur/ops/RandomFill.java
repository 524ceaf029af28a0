package fulgur.ops;

import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** Random values written into existing tensors, drawn on their device where it has {@link RandomKernels}. */
public final class RandomFill {
    private RandomFill() {}

    /**
     * Fills {@code t} (contiguous, floating, any device) in place with N(mean, std²) values from {@code rng}'s next
     * stream: the values {@code rng.normal(t.dtype(), mean, std, t.shape())} would draw.
     */
    public static void normal(Tensor t, Rng rng, double mean, double std) {
        t.checkAlive("normal");
        if (!t.dtype().isFloating() || !t.isContiguous()) {
            throw new IllegalArgumentException("normal: expected a contiguous floating tensor, got " + t.describe());
        }
        try (var g = GradMode.noGrad()) {
            RandomKernels k = Kernels.find(RandomKernels.class, t.device());
            if (k != null) {
                k.normal(t, rng.nextStream(), mean, std);
            } else {
                try (Tensor host = rng.normal(t.dtype(), mean, std, t.shape())) {
                    t.copyFrom(host);
                }
            }
        }
    }
}
