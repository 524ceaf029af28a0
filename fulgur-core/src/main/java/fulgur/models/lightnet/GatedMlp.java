package fulgur.models.lightnet;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.Tensor;

/** fla's GatedMLP (SwiGLU): down_proj(silu(gate_proj(x)) ⊙ up_proj(x)), no biases. */
final class GatedMlp extends Module {
    private final Linear gateProj;
    private final Linear upProj;
    private final Linear downProj;

    GatedMlp(int dim, int hidden, LightNetInit init) {
        gateProj = child("gate_proj", init.linear(dim, hidden));
        upProj = child("up_proj", init.linear(dim, hidden));
        downProj = child("down_proj", init.linear(hidden, dim));
    }

    Tensor forward(Tensor x) {
        return downProj.forward(Elementwise.mul(Activations.silu(gateProj.forward(x)), upProj.forward(x)));
    }
}
