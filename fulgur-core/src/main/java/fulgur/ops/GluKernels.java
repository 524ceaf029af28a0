package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Kernels of the gated-activation family ({@link Activations#siluMul}, the SwiGLU of gated feed-forwards): one pass
 * over each input instead of an activation and a product. Registered per device in {@link fulgur.backend.Kernels};
 * without one, {@link Activations#siluMul} composes {@code silu} and {@code mul}. Arguments: gate and up of one
 * shape and one floating dtype, on the kernel's device, any strides.
 */
public interface GluKernels {

    /** silu(gate) ⊙ up, in the inputs' dtype. */
    Tensor siluMul(Tensor gate, Tensor up);

    /** {d gate, d up} for the gradient {@code dy} of {@link #siluMul}'s output. */
    Tensor[] siluMulBackward(Tensor gate, Tensor up, Tensor dy);

    /**
     * {dy ⊙ b, dy ⊙ a}: the backward of a same-shape product a ⊙ b (a GLU without activation, as TNL's SGLU) in one
     * pass over dy; null when the kernel does not take these operands (the caller forms the two products), as this
     * default does.
     */
    default Tensor[] mulBackward(Tensor a, Tensor b, Tensor dy) {
        return null;
    }
}
