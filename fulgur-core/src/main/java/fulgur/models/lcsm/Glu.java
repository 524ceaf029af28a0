package fulgur.models.lcsm;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** The GLU channel mixer (xmixers' GLU): w3(SiLU(w1 x) ⊙ w2 x). */
final class Glu extends Module {
    private final Linear w1;
    private final Linear w2;
    private final Linear w3;

    Glu(int dim, int midDim, boolean bias, Rng rng) {
        w1 = child("w1", new Linear(dim, midDim, bias, rng));
        w2 = child("w2", new Linear(dim, midDim, bias, rng));
        w3 = child("w3", new Linear(midDim, dim, bias, rng));
    }

    Tensor forward(Tensor x) {
        return w3.forward(Elementwise.mul(Activations.silu(w1.forward(x)), w2.forward(x)));
    }
}
