package fulgur.models.lightnet;

import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.tensor.Rng;

/**
 * fla's _init_weights: every Linear and Embedding from N(0, initializer_range²), no biases; norms at 1. With a
 * non-positive std, Linear weights take std 1/√fan_in instead (PyTorch's default scale), which the small image
 * classifier uses: at width 32, std 0.02 leaves the low-rank swish gate at ≈ 0.01 and the attention branch stalls.
 */
final class LightNetInit {
    private final Rng rng;
    private final double std;

    LightNetInit(Rng rng, double std) {
        this.rng = rng;
        this.std = std;
    }

    private double std(int in) {
        return std > 0 ? std : 1 / Math.sqrt(in);
    }

    Linear linear(int in, int out) {
        return new Linear(rng.normal(0, std(in), out, in), null);
    }

    Linear linearWithBias(int in, int out) {
        return new Linear(rng.normal(0, std(in), out, in), fulgur.tensor.Tensor.zeros(out));
    }

    Embedding embedding(int vocab, int dim) {
        return new Embedding(vocab, dim, std, rng);
    }

    Rng rng() {
        return rng;
    }
}
