package fulgur.ops.gradnorm;

import fulgur.tensor.Tensor;
import java.util.List;

/**
 * The sum of squares of many tensors in f64, as gradient clipping needs it over every gradient of a model, with no host
 * read. Registered per device in {@link fulgur.backend.Kernels} (the CPU: one vectorised pass per tensor); without
 * one, {@link SquaredNorm} composes it from backend ops (a conversion to f64, a square and a sum per tensor).
 */
public interface SquaredNormKernels {

    /**
     * Σ over the tensors, in their order, of Σ x², accumulated in f64.
     *
     * @param tensors tensors of one device, any dtype and layout, at least one
     * @return an f64 scalar on their device
     */
    Tensor sumOfSquares(List<Tensor> tensors);
}
