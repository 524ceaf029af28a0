package fulgur.models;

import fulgur.nn.Embedding;
import fulgur.nn.Linear;
import fulgur.nn.LinearInit;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** transformers' _init_weights: every Linear and Embedding from N(0, initializer_range²), biases 0. */
public final class NormalInit implements LinearInit {
    private final Rng rng;
    private final double std;

    public NormalInit(Rng rng, double std) {
        this.rng = rng;
        this.std = std;
    }

    @Override
    public Linear linear(int in, int out, boolean bias) {
        return new Linear(rng.normal(0, std, out, in), bias ? Tensor.zeros(out) : null);
    }

    public Embedding embedding(int vocab, int dim) {
        return new Embedding(vocab, dim, std, rng);
    }

    public Rng rng() {
        return rng;
    }
}
