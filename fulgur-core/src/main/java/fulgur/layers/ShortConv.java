package fulgur.layers;

import fulgur.nn.Module;
import fulgur.nn.Parameter;
import fulgur.ops.Views;
import fulgur.ops.conv.ShortConvolution;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * Causal depthwise convolution over time, as torch's {@code Conv1d(d, d, K, groups=d, padding=K−1, bias=False)}
 * truncated to the input length: y_t = Σ_j w[:, 0, j] ⊙ x_{t−(K−1)+j} ({@link ShortConvolution}). Its weight keeps
 * torch's [d, 1, K] layout. The K − 1 positions before the input come from a tail (the previous inputs when decoding,
 * zeros otherwise).
 */
public final class ShortConv extends Module {
    private final Parameter weight;
    private final int kernel;

    public ShortConv(int dim, int kernel, Rng rng) {
        this.kernel = kernel;
        // torch's default Conv1d init: U(−1/√fan_in, 1/√fan_in), fan_in = K for a depthwise kernel.
        double bound = 1 / Math.sqrt(kernel);
        this.weight = param("weight", rng.uniform(-bound, bound, dim, 1, kernel), false);
    }

    public int kernel() {
        return kernel;
    }

    /** Output and the new tail (the last K − 1 inputs, [B, K−1, d]; null for K = 1). */
    public record Out(Tensor y, Tensor tail) {}

    /** x [B, T, d], tail [B, K−1, d] or null for zeros. */
    public Out forward(Tensor x, Tensor tail) {
        ShortConvolution.Result r = ShortConvolution.apply(x, Views.select(weight.value(), 1, 0), null, tail, false);
        return new Out(r.output(), r.tail());
    }
}
