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
     * One parameter: the parameter (contiguous), its gradient (any floating dtype: a mixed-precision model's bf16
     * gradient is read as it is), first and second moments (same shape; moments f32, or f64 for f64 parameters,
     * contiguous), its group's lr scale and weight decay, and {@code copy}: null, or a tensor of the parameter's shape
     * (contiguous) that receives the updated parameter in its own dtype (the 16-bit model weight of an f32 master).
     */
    record Slot(Tensor param, Tensor grad, Tensor m, Tensor v, double lrScale, double weightDecay, Tensor copy) {
        /** A slot without a copy. */
        public Slot(Tensor param, Tensor grad, Tensor m, Tensor v, double lrScale, double weightDecay) {
            this(param, grad, m, v, lrScale, weightDecay, null);
        }
    }

    /**
     * For every slot: m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², p ← p·(1 − lr·wd) − (lr / (1−β₁ᵗ))·m / (√(v / (1−β₂ᵗ)) + ε) with
     * lr = schedule[0]·lrScale. {@code schedule} is an f64 tensor [3] on the device holding lr, 1 − β₁ᵗ and 1 − β₂ᵗ, read
     * by the device (no host read), so that a captured step replays with each step's values. Then each slot's copy,
     * where there is one, holds the new parameter.
     */
    void update(List<Slot> slots, Tensor schedule, double beta1, double beta2, double eps);
}
