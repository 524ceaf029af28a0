package fulgur.ops.lightnet;

import fulgur.tensor.Tensor;

/**
 * The fused kernels of LightNet's additive recurrence on one device ({@link LightNet#apply} keeps the autograd logic
 * and validates the arguments): per key channel, z_t = logaddexp(z_{t−1}, k_t), S_t = e^{z_{t−1}−z_t} S_{t−1} +
 * e^{k_t−z_t} v_t, o_t = q_t S_t. Registered per device kind in {@link fulgur.backend.Kernels}; without one,
 * {@link LightNet#apply} runs {@link LightNet#chunked}, composed from backend ops.
 *
 * <p>Arguments: q, k {@code [B, T, H, dk]}, v {@code [B, T, H, dv]}, contiguous, on the kernel's device; an optional
 * initial state s0 {@code [B, H, dk, dv]} and z0 {@code [B, H, dk]} (both or neither).
 */
public interface LightNetKernels {

    /**
     * Returns one flat tensor: output [B, T, H, dv], final S [B, H, dk, dv], final z [B, H, dk], in f32 (f64 for f64
     * inputs).
     */
    Tensor forward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0);

    /** Gradients {dq, dk, dv, ds0, dz0 (null without an initial state)} from the gradient of the packed result. */
    Tensor[] backward(Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, Tensor packedGrad);
}
