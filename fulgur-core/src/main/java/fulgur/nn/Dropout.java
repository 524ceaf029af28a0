package fulgur.nn;

import fulgur.ops.Activations;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** Inverted dropout active in training mode only. */
public final class Dropout extends Module {
    private final double p;
    private final Rng rng;

    /**
     * A dropout layer.
     *
     * @param p the probability of zeroing an element, in [0, 1)
     * @param rng where the masks are drawn
     * @throws IllegalArgumentException when {@code p} is outside [0, 1)
     */
    public Dropout(double p, Rng rng) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("Dropout: probability must be in [0, 1), got " + p);
        }
        this.p = p;
        this.rng = rng;
    }

    /**
     * In training mode, zeroes each element with probability p and scales the rest by 1/(1 − p); in evaluation mode
     * returns x.
     *
     * @param x any tensor
     * @return a tensor of x's shape
     */
    public Tensor forward(Tensor x) {
        return Activations.dropout(x, p, rng, isTraining());
    }
}
