package fulgur.cuda.ops.gradnorm;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import fulgur.backend.Kernels;
import fulgur.ops.Views;
import fulgur.ops.gradnorm.SquaredNorm;
import fulgur.ops.gradnorm.SquaredNormKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/** The device's sum of squares against the host's over the same values, every dtype, sizes around the block grid. */
@Tag("gpu")
class SquaredNormGpuTest {

    @Test
    void theDevicesSumOfSquaresIsTheHosts() {
        gpu();
        assertThat(Kernels.find(SquaredNormKernels.class, GPU)).isInstanceOf(CudaSquaredNorm.class);
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(5);
            List<Tensor> host = new ArrayList<>();
            // empty, one element, around one block (256) and the grid's cap (1024 blocks of 256), several dtypes
            int[] sizes = {0, 1, 255, 256, 257, 262_143, 262_144, 262_145, 1_000_003};
            DType[] types = {DType.F32, DType.BF16, DType.F64};
            for (int i = 0; i < sizes.length; i++) {
                host.add(rng.normal(types[i % types.length], 0, 1, sizes[i]));
            }
            List<Tensor> dev = new ArrayList<>();
            for (Tensor t : host) {
                dev.add(t.to(GPU));
            }
            Tensor m = rng.normal(DType.F32, 0, 1, 300, 700);
            host.add(Views.transpose(m, 0, 1)); // a strided view: summed as its elements
            dev.add(Views.transpose(m.to(GPU), 0, 1));
            double want = SquaredNorm.of(host).item();
            Tensor got = SquaredNorm.of(dev);
            assertThat(got.device()).isEqualTo(GPU);
            assertThat(got.dtype()).isEqualTo(DType.F64);
            assertThat(got.item()).isCloseTo(want, within(1e-12 * want));
            assertThat(SquaredNorm.of(dev).item())
                    .as("the same bits on a second call")
                    .isEqualTo(got.item());
        }
    }

    @Test
    void aNonFiniteElementMakesTheSumNonFinite() {
        gpu();
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(DType.F64, new double[] {1, 2, Double.NaN, 4}, 4)
                    .to(DType.F32)
                    .to(GPU);
            assertThat(SquaredNorm.of(List.of(t)).item()).isNaN();
        }
    }
}
