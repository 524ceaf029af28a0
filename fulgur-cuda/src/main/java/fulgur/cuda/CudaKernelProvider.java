package fulgur.cuda;

import fulgur.backend.KernelProvider;
import fulgur.cuda.ops.adamw.CudaAdamW;
import fulgur.cuda.ops.glu.CudaGlu;
import fulgur.cuda.ops.lightning.CudaLightning;
import fulgur.cuda.ops.quant.CudaInt8Matmul;
import fulgur.cuda.ops.random.CudaRandom;
import fulgur.ops.GluKernels;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.lightning.LightningKernels;
import fulgur.ops.Int8MatmulKernels;
import fulgur.ops.RandomKernels;
import fulgur.tensor.Device;

/**
 * Registers the CUDA kernels of the op families with {@link fulgur.backend.Kernels}
 * (META-INF/services/fulgur.backend.KernelProvider). Each kernel lives under {@code fulgur.cuda.ops.<family>} and is
 * made once per device from that device's {@link CudaBackend}; a new family kernel is one line here.
 */
public final class CudaKernelProvider implements KernelProvider {
  @Override
  public void register(Registrar r) {
    Device.Kind cuda = Device.Kind.CUDA;
    r.add(LightningKernels.class, cuda, CudaLightning::on);
    r.add(GluKernels.class, cuda, CudaGlu::on);
    r.add(AdamWKernels.class, cuda, CudaAdamW::on);
    r.add(Int8MatmulKernels.class, cuda, CudaInt8Matmul::on);
    r.add(RandomKernels.class, cuda, CudaRandom::on);
  }
}
