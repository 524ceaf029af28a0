package fulgur.models.metala;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * Causal depthwise convolution over time, as torch's {@code Conv1d(d, d, K, groups=d, padding=K−1, bias=False)}
 * truncated to the input length: y_t = Σ_j w[:, 0, j] ⊙ x_{t−(K−1)+j}. Its weight keeps torch's [d, 1, K] layout.
 * The K − 1 positions before the input come from a tail (the previous inputs when decoding, zeros otherwise).
 */
final class ShortConv extends Module {
    private final Parameter weight;
    private final int kernel;

    ShortConv(int dim, int kernel, Rng rng) {
        this.kernel = kernel;
        // torch's default Conv1d init: U(−1/√fan_in, 1/√fan_in), fan_in = K for a depthwise kernel.
        double bound = 1 / Math.sqrt(kernel);
        this.weight = param("weight", rng.uniform(-bound, bound, dim, 1, kernel), false);
    }

    int kernel() {
        return kernel;
    }

    /** Output and the new tail (the last K − 1 inputs, [B, K−1, d]; null for K = 1). */
    record Out(Tensor y, Tensor tail) {}

    /** x [B, T, d], tail [B, K−1, d] or null for zeros. */
    Out forward(Tensor x, Tensor tail) {
        int b = x.size(0), t = x.size(1), d = x.size(2);
        Tensor xp = x;
        if (kernel > 1) {
            Tensor before = tail != null ? tail.to(x.dtype()) : Tensor.zeros(x.dtype(), x.device(), b, kernel - 1, d);
            xp = Views.concat(1, before, x);
        }
        Tensor w = Views.select(weight.value(), 1, 0);                                       // [d, K]
        Tensor y = null;
        for (int j = 0; j < kernel; j++) {
            Tensor term = Elementwise.mul(Views.narrow(xp, 1, j, t), Views.select(w, 1, j));
            y = y == null ? term : Elementwise.add(y, term);
        }
        return new Out(y, kernel > 1 ? Views.narrow(xp, 1, t, kernel - 1) : null);
    }
}
