package fulgur.layers;

import fulgur.nn.Linear;
import fulgur.nn.Module;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.tensor.Tensor;

/**
 * The GLU channel mixer out(act(in1(x)) ⊙ in2(x)): TNL's SGLU (no activation; children l1, l2, l3), MetaLA's (its
 * configured activation; l1, l2, l3), LCSM's and xmixers' (SiLU; w1, w2, w3). The model names the children after its
 * checkpoints and makes the linear maps.
 */
public final class Glu extends Module {
    /** The activation on the first branch. */
    public enum Activation {
        NONE,
        SILU,
        GELU,
        RELU,
        SIGMOID;

        Tensor apply(Tensor x) {
            return switch (this) {
                case NONE -> x;
                case SILU -> Activations.silu(x);
                case GELU -> Activations.gelu(x);
                case RELU -> Activations.relu(x);
                case SIGMOID -> Activations.sigmoid(x);
            };
        }
    }

    private final Linear in1;
    private final Linear in2;
    private final Linear out;
    private final Activation act;

    /** Children named {@code names[0..2]} for in1, in2 and out (e.g. {"l1", "l2", "l3"}). */
    public Glu(String[] names, Linear in1, Linear in2, Linear out, Activation act) {
        if (names.length != 3) {
            throw new IllegalArgumentException("Glu: expected three child names, got " + names.length);
        }
        this.in1 = child(names[0], in1);
        this.in2 = child(names[1], in2);
        this.out = child(names[2], out);
        this.act = act;
    }

    public Tensor forward(Tensor x) {
        if (act == Activation.SILU) {
            return out.forwardSiluMul(
                    in1.forward(x), in2.forward(x)); // the product fused, and recomputed in the backward
        }
        return out.forward(Elementwise.mul(act.apply(in1.forward(x)), in2.forward(x)));
    }
}
