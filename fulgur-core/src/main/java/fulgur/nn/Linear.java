package fulgur.nn;

import fulgur.ops.LinearAlgebra;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/** y = x·Wᵀ + b with W [out, in] (torch.nn.Linear layout, so checkpoints map one to one). */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private final int in;
    private final int out;

    /** Weights from U(−1/√in, 1/√in) as torch does by default. */
    public Linear(int in, int out, boolean bias, Rng rng) {
        this(in, out, bias, rng, DType.F32);
    }

    public Linear(int in, int out, boolean bias, Rng rng, DType dtype) {
        if (in <= 0 || out <= 0) {
            throw new IllegalArgumentException("Linear: sizes must be positive, got in=" + in + ", out=" + out);
        }
        this.in = in;
        this.out = out;
        double bound = 1 / Math.sqrt(in);
        this.weight = param("weight", rng.uniform(dtype, -bound, bound, out, in), true);
        this.bias = bias ? param("bias", rng.uniform(dtype, -bound, bound, out), false) : null;
    }

    public Tensor forward(Tensor x) {
        return LinearAlgebra.linear(x, weight.value(), bias == null ? null : bias.value());
    }

    public Parameter weight() {
        return weight;
    }

    public Parameter bias() {
        return bias;
    }

    public int inFeatures() {
        return in;
    }

    public int outFeatures() {
        return out;
    }
}
