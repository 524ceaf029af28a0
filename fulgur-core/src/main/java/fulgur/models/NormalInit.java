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

    /**
     * An initialisation drawing from N(0, std²).
     *
     * @param rng where the weights are drawn
     * @param std the standard deviation (initializer_range)
     */
    public NormalInit(Rng rng, double std) {
        this.rng = rng;
        this.std = std;
    }

    @Override
    public Linear linear(int in, int out, boolean bias) {
        return new Linear(rng.normal(0, std, out, in), bias ? Tensor.zeros(out) : null);
    }

    /**
     * An embedding table with weights from N(0, std²).
     *
     * @param vocab the number of ids
     * @param dim the features per id
     * @return the table
     */
    public Embedding embedding(int vocab, int dim) {
        return new Embedding(vocab, dim, std, rng);
    }

    /** {@return the generator the weights are drawn from} */
    public Rng rng() {
        return rng;
    }
}
