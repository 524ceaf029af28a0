package fulgur.models.llama;

import fulgur.models.NormalInit;
import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.Tensor;

/** Llama's feed-forward: down_proj(SiLU(gate_proj(x)) ⊙ up_proj(x)). */
public final class GatedMlp extends Module {
    private final Linear gateProj;
    private final Linear upProj;
    private final Linear downProj;

    public GatedMlp(int hidden, int intermediate, boolean bias, NormalInit init) {
        gateProj = child("gate_proj", init.linear(hidden, intermediate, bias));
        upProj = child("up_proj", init.linear(hidden, intermediate, bias));
        downProj = child("down_proj", init.linear(intermediate, hidden, bias));
    }

    public Tensor forward(Tensor x) {
        return downProj.forward(Elementwise.mul(Activations.silu(gateProj.forward(x)), upProj.forward(x)));
    }
}
