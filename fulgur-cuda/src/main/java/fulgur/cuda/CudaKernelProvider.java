package fulgur.cuda;

import fulgur.backend.KernelProvider;
import fulgur.cuda.ops.adamw.CudaAdamW;
import fulgur.cuda.ops.attention.CudaAttention;
import fulgur.cuda.ops.attention.CudaPagedAttention;
import fulgur.cuda.ops.conv.CudaShortConv;
import fulgur.cuda.ops.gla.CudaGla;
import fulgur.cuda.ops.gla.CudaLogDecay;
import fulgur.cuda.ops.glu.CudaGlu;
import fulgur.cuda.ops.gradnorm.CudaSquaredNorm;
import fulgur.cuda.ops.lcsm.CudaLcsm;
import fulgur.cuda.ops.lightnet.CudaLightNet;
import fulgur.cuda.ops.lightning.CudaLightning;
import fulgur.cuda.ops.lightning.CudaNormLinearAttention;
import fulgur.cuda.ops.loss.CudaCrossEntropy;
import fulgur.cuda.ops.matmul.CudaMatmulInto;
import fulgur.cuda.ops.moe.CudaMoe;
import fulgur.cuda.ops.norm.CudaGatedNorm;
import fulgur.cuda.ops.norm.CudaResidualNorm;
import fulgur.cuda.ops.quant.CudaInt8Matmul;
import fulgur.cuda.ops.random.CudaRandom;
import fulgur.ops.CrossEntropyKernels;
import fulgur.ops.GatedNormKernels;
import fulgur.ops.GluKernels;
import fulgur.ops.Int8MatmulKernels;
import fulgur.ops.MatmulIntoKernels;
import fulgur.ops.RandomKernels;
import fulgur.ops.ResidualNormKernels;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.attention.AttentionKernels;
import fulgur.ops.attention.PagedAttentionKernels;
import fulgur.ops.conv.ShortConvKernels;
import fulgur.ops.gla.GlaKernels;
import fulgur.ops.gla.LogDecayKernels;
import fulgur.ops.gradnorm.SquaredNormKernels;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.ops.lightning.LightningKernels;
import fulgur.ops.lightning.NormLinearAttentionKernels;
import fulgur.ops.moe.MoeKernels;
import fulgur.tensor.Device;

/**
 * Registers the CUDA kernels of the op families with {@link fulgur.backend.Kernels}
 * (META-INF/services/fulgur.backend.KernelProvider). Each kernel lives under {@code fulgur.cuda.ops.<family>} and is
 * made once per device from that device's {@link CudaBackend}; a new family kernel is one line here.
 */
public final class CudaKernelProvider implements KernelProvider {
    /** The service instance that {@link fulgur.backend.Kernels} loads. */
    public CudaKernelProvider() {}

    @Override
    public void register(Registrar r) {
        Device.Kind cuda = Device.Kind.CUDA;
        r.add(LightningKernels.class, cuda, CudaLightning::on);
        r.add(NormLinearAttentionKernels.class, cuda, CudaNormLinearAttention::on);
        r.add(GlaKernels.class, cuda, CudaGla::on);
        r.add(LogDecayKernels.class, cuda, CudaLogDecay::on);
        r.add(LightNetKernels.class, cuda, CudaLightNet::on);
        r.add(LcsmKernels.class, cuda, CudaLcsm::on);
        r.add(AttentionKernels.class, cuda, CudaAttention::on);
        // -Dfulgur.cuda.pagedDecode=false turns it off: paged decoding on CUDA then gathers each row's blocks
        if (!"false".equals(System.getProperty("fulgur.cuda.pagedDecode")))
            r.add(PagedAttentionKernels.class, cuda, CudaPagedAttention::on);
        r.add(ShortConvKernels.class, cuda, CudaShortConv::on);
        r.add(MoeKernels.class, cuda, CudaMoe::on);
        r.add(GluKernels.class, cuda, CudaGlu::on);
        r.add(GatedNormKernels.class, cuda, CudaGatedNorm::on);
        r.add(ResidualNormKernels.class, cuda, CudaResidualNorm::on);
        r.add(CrossEntropyKernels.class, cuda, CudaCrossEntropy::on);
        r.add(AdamWKernels.class, cuda, CudaAdamW::on);
        r.add(SquaredNormKernels.class, cuda, CudaSquaredNorm::on);
        r.add(Int8MatmulKernels.class, cuda, CudaInt8Matmul::on);
        r.add(MatmulIntoKernels.class, cuda, CudaMatmulInto::on);
        r.add(RandomKernels.class, cuda, CudaRandom::on);
    }
}
