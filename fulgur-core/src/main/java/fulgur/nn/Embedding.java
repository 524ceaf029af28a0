package fulgur.nn;

import fulgur.ops.Indexing;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** A lookup table [vocab, dim]; rows initialised from N(0, std²). */
public final class Embedding extends Module {
    private final Parameter weight;

    public Embedding(int vocab, int dim, double std, Rng rng) {
        this(vocab, dim, std, rng, DType.F32);
    }

    public Embedding(int vocab, int dim, double std, Rng rng, DType dtype) {
        if (vocab <= 0 || dim <= 0) {
            throw new IllegalArgumentException("Embedding: sizes must be positive, got vocab=" + vocab + ", dim=" + dim);
        }
        this.weight = param("weight", rng.normal(dtype, 0, std, vocab, dim), true);
    }

    public Tensor forward(Tensor ids) {
        return Indexing.embedding(weight.value(), ids);
    }

    public Parameter weight() {
        return weight;
    }
}
