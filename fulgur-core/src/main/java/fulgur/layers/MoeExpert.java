package fulgur.layers;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.tensor.Tensor;

/**
 * One expert of {@link MoeFeedForward}: the gated FFN w2(SiLU(w1 x) ⊙ w3 x), no biases. Child names w1 [F, D],
 * w2 [D, F], w3 [F, D] as transformers' Mixtral/MiniMax {@code block_sparse_moe.experts.N}.
 */
public final class MoeExpert extends Module {
    private final Linear w1;
    private final Linear w2;
    private final Linear w3;

    public MoeExpert(Linear w1, Linear w2, Linear w3) {
        int d = w1.inFeatures();
        int f = w1.outFeatures();
        if (w3.inFeatures() != d || w3.outFeatures() != f || w2.inFeatures() != f || w2.outFeatures() != d) {
            throw new IllegalArgumentException("MoeExpert: expected w1, w3 [" + f + ", " + d + "] and w2 [" + d + ", "
                    + f + "], got w1 " + w1.weight().value().describe() + ", w2 "
                    + w2.weight().value().describe() + ", w3 "
                    + w3.weight().value().describe());
        }
        if (w1.bias() != null || w2.bias() != null || w3.bias() != null) {
            throw new IllegalArgumentException(
                    "MoeExpert: the experts' linear maps have no bias in the reference layout");
        }
        this.w1 = child("w1", w1);
        this.w2 = child("w2", w2);
        this.w3 = child("w3", w3);
    }

    public Tensor forward(Tensor x) {
        return w2.forward(Activations.siluMul(w1.forward(x), w3.forward(x)));
    }

    public Linear w1() {
        return w1;
    }

    public Linear w2() {
        return w2;
    }

    public Linear w3() {
        return w3;
    }
}
