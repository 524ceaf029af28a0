package fulgur.models.leap;

import fulgur.nn.Dropout;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** linear2(dropout(relu(linear1(x)))): the position-wise feed-forward of HAN and of the LEAP decoder. */
final class FeedForward extends Module {
    private final Linear linear1;
    private final Linear linear2;
    private final Dropout dropout;

    FeedForward(int dim, int hidden, double dropout, Rng rng, Rng dropoutRng) {
        linear1 = child("linear1", new Linear(dim, hidden, true, rng));
        linear2 = child("linear2", new Linear(hidden, dim, true, rng));
        this.dropout = child("dropout", new Dropout(dropout, dropoutRng));
    }

    Tensor forward(Tensor x) {
        return linear2.forward(dropout.forward(linear1.forward(x).relu()));
    }
}
