package fulgur.models.hgrn2;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** fla's GatedMLP (SwiGLU): down_proj(SiLU(gate_proj(x)) ⊙ up_proj(x)), no biases. */
final class Hgrn2Mlp extends Module {
    private final Linear gate;
    private final Linear up;
    private final Linear down;

    Hgrn2Mlp(int dim, int inner, Rng rng, double std) {
        gate = child("gate_proj", Hgrn2Model.linear(dim, inner, rng, std));
        up = child("up_proj", Hgrn2Model.linear(dim, inner, rng, std));
        down = child("down_proj", Hgrn2Model.linear(inner, dim, rng, std));
    }

    Tensor forward(Tensor x) {
        return down.forward(Elementwise.mul(Activations.silu(gate.forward(x)), up.forward(x)));
    }
}
