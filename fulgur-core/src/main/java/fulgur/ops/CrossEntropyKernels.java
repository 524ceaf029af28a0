package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Kernels of cross-entropy's loss and its gradient in one pass over the logits, for where both are wanted while the
 * logits exist (the chunks of {@link Losses#linearCrossEntropy}): the logits are read once instead of once for the loss
 * and twice for the gradient. Registered per device in {@link fulgur.backend.Kernels}; without one (or when
 * {@link #supports} says no) the op calls the backend's {@code crossEntropy} and {@code crossEntropyBackward}.
 */
public interface CrossEntropyKernels {

    /** Whether these kernels take the logits [N, V] (dtype, width, layout). */
    boolean supports(Tensor logits);

    /**
     * {the mean loss over the rows whose target is not {@code ignoreIndex} (f32 scalar, as the backend's
     * {@code crossEntropy}), d(loss)/d(logits) scaled by the one-element {@code gradOut} (as its
     * {@code crossEntropyBackward}), in the logits' dtype}.
     */
    Tensor[] lossAndGradient(Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut);
}
