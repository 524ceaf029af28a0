package fulgur.ops.adamw;

import fulgur.tensor.Tensor;
import java.util.List;

/**
 * The fused AdamW update of one device (what {@code fulgur.optim.AdamW#update()} runs): one multi-tensor update over
 * all parameters, in place. Registered per device in {@link fulgur.backend.Kernels} (the CPU: Vector API loops; CUDA:
 * one launch for all f32 parameters); without one, {@link AdamWUpdate} composes it from backend ops.
 */
public interface AdamWKernels {

    /**
     * One parameter: the parameter (contiguous), its gradient, first and second moments (same shape; moments f32, or f64
     * for f64 parameters, contiguous), and its group's lr scale and weight decay.
     */
    record Slot(Tensor param, Tensor grad, Tensor m, Tensor v, double lrScale, double weightDecay) {}

    /**
     * For every slot: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p·(1 − lr·wd) − (lr / (1−β₁ᵗ))·m / (√(v / (1−β₂ᵗ)) + ε) with
     * lr = schedule[0]·lrScale. {@code schedule} is an f64 tensor [3] on the device holding lr, 1 − β₁ᵗ and 1 − β₂ᵗ, read
     * by the device (no host read), so that a captured step replays with each step's values.
     */
    void update(List<Slot> slots, Tensor schedule, double beta1, double beta2, double eps);
}
