package fulgur.nn;

import fulgur.autograd.GradMode;
import fulgur.ops.LinearAlgebra;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;

/**
 * y = x·Wᵀ + b with W [out, in] (torch.nn.Linear layout, so checkpoints map one to one). A layer may hold its weight
 * as int8 with per-output-channel scales ({@link #quantizeInt8}, {@link Int8Weights}): parameters "weight" (I8) and
 * "weight_scale" (F32), products through {@link LinearAlgebra#linearInt8}, inference only.
 */
public final class Linear extends Module {
    private final Parameter weight;
    private final Parameter bias;
    private Parameter weightScale;
    private final int in;
    private final int out;

    /**
     * Weights from U(−1/√in, 1/√in) as torch does by default.
     *
     * @param in input features
     * @param out output features
     * @param bias whether to learn a bias
     * @param rng where the weights are drawn
     */
    public Linear(int in, int out, boolean bias, Rng rng) {
        this(in, out, bias, rng, DType.F32);
    }

    /**
     * As {@link #Linear(int, int, boolean, Rng)}, with weights in {@code dtype}.
     *
     * @param in input features
     * @param out output features
     * @param bias whether to learn a bias
     * @param rng where the weights are drawn
     * @param dtype the weights' element type
     */
    public Linear(int in, int out, boolean bias, Rng rng, DType dtype) {
        this(uniform(in, out, rng, dtype, out, in), bias ? uniform(in, out, rng, dtype, out) : null);
    }

    /**
     * A layer with the given initial weight [out, in] and bias [out] (or null).
     *
     * @param weight the weight [out, in]
     * @param bias the bias [out], or null
     * @throws IllegalArgumentException when the shapes do not fit
     */
    public Linear(Tensor weight, Tensor bias) {
        if (weight.ndim() != 2 || (bias != null && (bias.ndim() != 1 || bias.size(0) != weight.size(0)))) {
            throw new IllegalArgumentException("Linear: expected weight [out, in] and bias [out], got "
                    + weight.describe() + (bias == null ? "" : " and " + bias.describe()));
        }
        this.in = weight.size(1);
        this.out = weight.size(0);
        this.weight = param("weight", weight, true);
        this.bias = bias != null ? param("bias", bias, false) : null;
    }

    private static Tensor uniform(int in, int out, Rng rng, DType dtype, int... shape) {
        if (in <= 0 || out <= 0) {
            throw new IllegalArgumentException("Linear: sizes must be positive, got in=" + in + ", out=" + out);
        }
        double bound = 1 / Math.sqrt(in);
        return rng.uniform(dtype, -bound, bound, shape);
    }

    /**
     * x·Wᵀ + b.
     *
     * @param x [..., in]
     * @return [..., out]
     * @throws IllegalArgumentException when the last dimension of x is not {@code in}
     */
    public Tensor forward(Tensor x) {
        if (weightScale != null) {
            return LinearAlgebra.linearInt8(x, weight.value(), weightScale.value(), bias == null ? null : bias.value());
        }
        return LinearAlgebra.linear(x, weight.value(), bias == null ? null : bias.value());
    }

    /** Replaces the floating weight by its int8 quantization and per-channel scales (freeing the floating one). */
    public void quantizeInt8() {
        if (weightScale != null) {
            return;
        }
        Int8Weights.Quantized qw = Int8Weights.quantize(weight.value());
        weight.replace(qw.q());
        weightScale = param("weight" + Int8Weights.SCALE_SUFFIX, qw.scale(), false);
    }

    /** Turns this layer into an int8 one whose weights and scales a checkpoint loads next (zeros until then). */
    public void prepareInt8() {
        if (weightScale != null) {
            return;
        }
        weight.replace(Tensor.zeros(DType.I8, weight.value().device(), out, in));
        weightScale = param(
                "weight" + Int8Weights.SCALE_SUFFIX,
                Tensor.zeros(DType.F32, weight.value().device(), out),
                false);
    }

    /**
     * Keeps the weight in memory as [in, out] (its transpose, row-major), seen as the same [out, in] weight: products
     * of a few rows, a batch being decoded on the CPU, then read it where it lies ({@link fulgur.backend.cpu.Gemm}'s
     * unpacked path) instead of transposing it into packed panels on every call. The values do not change and the
     * products agree to f32 rounding; a checkpoint saved from the layer holds the usual [out, in] layout. Only f32
     * weights on the CPU are moved; others, and a weight already so stored, stay as they are.
     *
     * @return whether this call moved the weight
     */
    public boolean storeTransposed() {
        Tensor w = weight.value();
        if (w.dtype() != DType.F32 || w.device().kind() != Device.Kind.CPU || !w.isContiguous()) {
            return false;
        }
        try (var g = GradMode.noGrad()) {
            weight.relayout(w.transpose(0, 1).contiguous().transpose(0, 1));
        }
        return true;
    }

    /**
     * Whether the weight is int8.
     *
     * @return true once quantized
     */
    public boolean isInt8() {
        return weightScale != null;
    }

    /** The per-output-channel scales of an int8 weight, null for a floating one. */
    /**
     * This map of silu(gate) ⊙ up: the down projection of a SwiGLU feed-forward, with the product recomputed in the
     * backward rather than stored ({@link LinearAlgebra#siluMulLinear}) when the map has float weights and no bias.
     *
     * @param gate [..., in]
     * @param up [..., in]
     * @return [..., out]
     */
    public Tensor forwardSiluMul(Tensor gate, Tensor up) {
        if (weightScale != null || bias != null) {
            return forward(fulgur.ops.Activations.siluMul(gate, up));
        }
        return LinearAlgebra.siluMulLinear(gate, up, weight.value());
    }

    /** {@return the per-row scales [out] of an int8 weight, or null for a float one} */
    public Parameter weightScale() {
        return weightScale;
    }

    /** {@return the weight [out, in]} */
    public Parameter weight() {
        return weight;
    }

    /** {@return the bias [out], or null} */
    public Parameter bias() {
        return bias;
    }

    /** {@return the number of input features} */
    public int inFeatures() {
        return in;
    }

    /** {@return the number of output features} */
    public int outFeatures() {
        return out;
    }
}
