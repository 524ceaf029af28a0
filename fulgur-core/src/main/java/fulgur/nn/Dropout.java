package fulgur.nn;

import fulgur.ops.Activations;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** Inverted dropout active in training mode only. */
public final class Dropout extends Module {
    private final double p;
    private final Rng rng;

    public Dropout(double p, Rng rng) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("Dropout: probability must be in [0, 1), got " + p);
        }
        this.p = p;
        this.rng = rng;
    }

    public Tensor forward(Tensor x) {
        return Activations.dropout(x, p, rng, isTraining());
    }
}
