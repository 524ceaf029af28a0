package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Kernels of weight-only int8 matrix products ({@link fulgur.ops.LinearAlgebra#linearInt8}): x [M, K] (f32,
 * contiguous) times (diag(scale)·q)ᵀ with q [N, K] i8 and scale [N] f32 (both contiguous), on the kernel's device →
 * [M, N] f32 (arguments already validated). A kernel widens the weights a tile at a time, never the whole matrix.
 * Registered per device in {@link fulgur.backend.Kernels}; without one, {@link Int8Matmul} widens q in bounded row
 * blocks and multiplies them with the backend's matmul.
 */
public interface Int8MatmulKernels {

    Tensor matmul(Tensor x, Tensor q, Tensor scale);
}
