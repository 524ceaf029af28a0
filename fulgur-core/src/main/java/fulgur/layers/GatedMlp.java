package fulgur.layers;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.tensor.Tensor;

/**
 * The gated feed-forward (SwiGLU) of Llama, fla's GatedMLP (HGRN2, LightNet): down_proj(SiLU(gate_proj(x)) ⊙ up_proj(x)),
 * children gate_proj, up_proj and down_proj. The model makes the three linear maps (its own initialisation and biases).
 */
public final class GatedMlp extends Module {
    private final Linear gateProj;
    private final Linear upProj;
    private final Linear downProj;

    public GatedMlp(Linear gateProj, Linear upProj, Linear downProj) {
        this.gateProj = child("gate_proj", gateProj);
        this.upProj = child("up_proj", upProj);
        this.downProj = child("down_proj", downProj);
    }

    public Tensor forward(Tensor x) {
        return downProj.forwardSiluMul(gateProj.forward(x), upProj.forward(x));
    }
}
