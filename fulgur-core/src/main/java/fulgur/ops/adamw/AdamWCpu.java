package fulgur.ops.adamw;

import fulgur.backend.cpu.CpuOptim;
import fulgur.tensor.Tensor;
import java.util.List;

/** The CPU's {@link AdamWKernels}: {@link CpuOptim}'s Vector API update, one parameter after another. */
public final class AdamWCpu implements AdamWKernels {
    public static final AdamWCpu INSTANCE = new AdamWCpu();

    private AdamWCpu() {}

    @Override
    public void update(List<Slot> slots, Tensor schedule, double beta1, double beta2, double eps) {
        for (Slot s : slots) {
            CpuOptim.adamw(
                    s.param(), s.grad(), s.m(), s.v(), schedule, s.lrScale(), beta1, beta2, eps, s.weightDecay());
            if (s.copy() != null) {
                s.copy().copyFrom(s.param());
            }
        }
    }
}
