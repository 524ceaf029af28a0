package fulgur.models.lightnet;

import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.tensor.Rng;

/** fla's _init_weights: every Linear and Embedding from N(0, initializer_range²), no biases; norms at 1. */
final class LightNetInit {
    private final Rng rng;
    private final double std;

    LightNetInit(Rng rng, double std) {
        this.rng = rng;
        this.std = std;
    }

    Linear linear(int in, int out) {
        return new Linear(rng.normal(0, std, out, in), null);
    }

    Linear linearWithBias(int in, int out) {
        return new Linear(rng.normal(0, std, out, in), fulgur.tensor.Tensor.zeros(out));
    }

    Embedding embedding(int vocab, int dim) {
        return new Embedding(vocab, dim, std, rng);
    }

    Rng rng() {
        return rng;
    }
}
