package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Kernels that draw random values where a tensor lives ({@link RandomFill}): a model's weights made on a GPU need not
 * be drawn on the host and copied over. Registered per device in {@link fulgur.backend.Kernels}; without one,
 * {@link RandomFill} draws on the host and copies.
 */
public interface RandomKernels {

    /**
     * Fills {@code t} (contiguous, floating) in place: element i is {@code mean + std · Rng.normal(stream, i)}, the
     * counter-based normal of {@link fulgur.tensor.Rng}, computed with the device's own log, cos and sin (equal to the
     * host's draws up to their last-bit rounding).
     */
    void normal(Tensor t, long stream, double mean, double std);
}
