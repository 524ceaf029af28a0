package fulgur.nn;

import fulgur.ops.Indexing;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** A lookup table [vocab, dim]; rows initialised from N(0, std²). */
public final class Embedding extends Module {
    private final Parameter weight;

    /**
     * An f32 table of {@code vocab} rows of {@code dim} features, drawn from N(0, std²).
     *
     * @param vocab the number of ids
     * @param dim the features per id
     * @param std the standard deviation of the initial weights
     * @param rng where they are drawn
     * @throws IllegalArgumentException when a size is not positive
     */
    public Embedding(int vocab, int dim, double std, Rng rng) {
        this(vocab, dim, std, rng, DType.F32);
    }

    /**
     * A table of {@code vocab} rows of {@code dim} features in {@code dtype}, drawn from N(0, std²).
     *
     * @param vocab the number of ids
     * @param dim the features per id
     * @param std the standard deviation of the initial weights
     * @param rng where they are drawn
     * @param dtype the weight's element type
     * @throws IllegalArgumentException when a size is not positive
     */
    public Embedding(int vocab, int dim, double std, Rng rng, DType dtype) {
        if (vocab <= 0 || dim <= 0) {
            throw new IllegalArgumentException(
                    "Embedding: sizes must be positive, got vocab=" + vocab + ", dim=" + dim);
        }
        this.weight = param("weight", rng.normal(dtype, 0, std, vocab, dim), true);
    }

    /**
     * Looks the ids up.
     *
     * @param ids integer ids of any shape [...], each in [0, vocab)
     * @return [..., dim]
     * @throws IndexOutOfBoundsException when an id is outside the vocabulary (CPU)
     */
    public Tensor forward(Tensor ids) {
        return Indexing.embedding(weight.value(), ids);
    }

    /** {@return the table [vocab, dim]} */
    public Parameter weight() {
        return weight;
    }
}
