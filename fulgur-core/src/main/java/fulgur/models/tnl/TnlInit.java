package fulgur.models.tnl;

import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.tensor.Rng;

/** Initialisation as the official code's _init_weights: every Linear and Embedding from N(0, init_std²), biases 0. */
final class TnlInit {
    private final Rng rng;
    private final double std;

    TnlInit(Rng rng, double std) {
        this.rng = rng;
        this.std = std;
    }

    Linear linear(int in, int out, boolean bias) {
        return new Linear(rng.normal(0, std, out, in), bias ? fulgur.tensor.Tensor.zeros(out) : null);
    }

    Embedding embedding(int vocab, int dim, Integer padId) {
        Embedding e = new Embedding(vocab, dim, std, rng);
        if (padId != null && padId >= 0 && padId < vocab) {
            e.weight().value().narrow(0, padId, 1).copyFrom(fulgur.tensor.Tensor.zeros(1, dim));
        }
        return e;
    }
}
