package fulgur.models.metala;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** MetaLA's channel mixer: l3(act(l1(x)) ⊙ l2(x)). */
final class MetalaGlu extends Module {
    private final Linear l1;
    private final Linear l2;
    private final Linear l3;
    private final String act;

    MetalaGlu(MetalaConfig c, Rng rng) {
        l1 = child("l1", MetalaModel.linear(c.embedDim(), c.gluDim(), c.bias(), rng, c.initStd()));
        l2 = child("l2", MetalaModel.linear(c.embedDim(), c.gluDim(), c.bias(), rng, c.initStd()));
        l3 = child("l3", MetalaModel.linear(c.gluDim(), c.embedDim(), c.bias(), rng, c.initStd()));
        act = c.gluAct();
    }

    Tensor forward(Tensor x) {
        Tensor a = l1.forward(x);
        a = switch (act) {
            case "gelu" -> Activations.gelu(a);
            case "relu" -> Activations.relu(a);
            case "sigmoid" -> Activations.sigmoid(a);
            default -> Activations.silu(a);
        };
        return l3.forward(Elementwise.mul(a, l2.forward(x)));
    }
}
