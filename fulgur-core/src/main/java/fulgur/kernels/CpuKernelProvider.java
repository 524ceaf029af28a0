package fulgur.kernels;

import fulgur.backend.KernelProvider;
import fulgur.ops.Int8MatmulCpu;
import fulgur.ops.Int8MatmulKernels;
import fulgur.ops.adamw.AdamWCpu;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.attention.AttentionCpu;
import fulgur.ops.attention.AttentionKernels;
import fulgur.ops.attention.PagedAttentionCpu;
import fulgur.ops.attention.PagedAttentionKernels;
import fulgur.ops.gla.GlaIntraCpu;
import fulgur.ops.gla.GlaIntraKernels;
import fulgur.ops.gradnorm.SquaredNormCpu;
import fulgur.ops.gradnorm.SquaredNormKernels;
import fulgur.ops.lcsm.LcsmCpu;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.ops.lightnet.LightNetCpu;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.ops.lightning.LightningCpu;
import fulgur.ops.lightning.LightningKernels;
import fulgur.tensor.Device;

/**
 * Registers fulgur-core's CPU kernels of the op families (each lives in its family's package) with
 * {@link fulgur.backend.Kernels}, as a device module does for its own: listed in
 * {@code META-INF/services/fulgur.backend.KernelProvider}. Nothing depends on this package.
 */
public final class CpuKernelProvider implements KernelProvider {
    @Override
    public void register(Registrar r) {
        Device.Kind cpu = Device.Kind.CPU;
        r.add(LightningKernels.class, cpu, d -> LightningCpu.INSTANCE);
        r.add(GlaIntraKernels.class, cpu, d -> GlaIntraCpu.INSTANCE);
        r.add(LightNetKernels.class, cpu, d -> LightNetCpu.INSTANCE);
        r.add(LcsmKernels.class, cpu, d -> LcsmCpu.INSTANCE);
        r.add(AttentionKernels.class, cpu, d -> AttentionCpu.INSTANCE);
        r.add(PagedAttentionKernels.class, cpu, d -> PagedAttentionCpu.INSTANCE);
        r.add(AdamWKernels.class, cpu, d -> AdamWCpu.INSTANCE);
        r.add(SquaredNormKernels.class, cpu, d -> SquaredNormCpu.INSTANCE);
        r.add(Int8MatmulKernels.class, cpu, d -> Int8MatmulCpu.INSTANCE);
    }
}
