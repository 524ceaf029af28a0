package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.models.LanguageModel;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Int8Weights;
import fulgur.ops.LinearAlgebra;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Weight-only int8 products on the GPU (the warp-per-channel kernel for few rows, the tiled one for many) against the
 * CPU kernel, and a quantized model's logits on both backends.
 */
@Tag("gpu")
class Int8MatmulGpuTest {

    @Test
    void int8ProductsMatchTheCpu() {
        gpu();
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            Rng rng = new Rng(4);
            for (int[] kn : new int[][] {{515, 70}, {512, 256}, {1024, 1000}}) {
                int k = kn[0], n = kn[1];
                Int8Weights.Quantized q = Int8Weights.quantize(rng.normal(0, 0.05, n, k));
                Tensor qg = q.q().to(GPU);
                Tensor sg = q.scale().to(GPU);
                assertThat(qg.dtype()).isEqualTo(DType.I8);
                for (int m : new int[] {1, 5, 8, 9, 100, 130}) {
                    Tensor x = rng.normal(0, 1, m, k);
                    double[] cpu =
                            LinearAlgebra.linearInt8(x, q.q(), q.scale(), null).toDoubleArray();
                    double[] gpu =
                            LinearAlgebra.linearInt8(x.to(GPU), qg, sg, null).toDoubleArray();
                    double e = relErr(gpu, cpu);
                    System.out.printf("int8 matmul m=%d k=%d n=%d: rel err %.2e%n", m, k, n, e);
                    assertThat(e).as("m=%d k=%d n=%d", m, k, n).isLessThan(1e-5);
                }
            }
        }
    }

    @Test
    void aQuantizedModelGivesTheSameLogitsOnBothBackends() {
        gpu();
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            LanguageModel cpu = new TnlModel(TnlConfig.small(97, 64, 2, 4).withTiedEmbeddings(false), 3);
            LanguageModel dev = new TnlModel(TnlConfig.small(97, 64, 2, 4).withTiedEmbeddings(false), 3);
            Int8Weights.quantizeLinears(cpu.module());
            Int8Weights.quantizeLinears(dev.module());
            dev.module().to(GPU);
            Tensor ids = BackendCheck.ints(5, DType.I64, 97, 2, 33);
            double[] want = cpu.forward(ids).toDoubleArray();
            double[] got = dev.forward(ids.to(GPU)).toDoubleArray();
            assertThat(relErr(got, want)).isLessThan(1e-5);
        }
    }
}
