package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.RandomFill;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Normal values drawn on the GPU are the host's draws from the same stream (up to the last bits of the device's log,
 * cos and sin): element for element, in f32, f64 and bf16; in f32 and bf16 nearly always the same number.
 */
@Tag("gpu")
class RandomFillGpuTest {

    @Test
    void theDevicesDrawsAreTheHosts() {
        gpu();
        try (Scope s = Scope.open()) {
            for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
                Tensor t = Tensor.zeros(dt, GPU, 257, 1031);
                RandomFill.normal(t, new Rng(21), 0.1, 0.02);
                double[] got = t.toDoubleArray();
                double[] want = new Rng(21).normal(dt, 0.1, 0.02, 257, 1031).toDoubleArray();
                double ulp = dt == DType.BF16 ? 0x1p-7 : 0x1p-23;
                int differ = 0;
                for (int i = 0; i < got.length; i++) {
                    // f64: a few ulps of the terms (mean and std·x: their sum may cancel); narrower: one rounding step
                    // of the value
                    double bound =
                            dt == DType.F64 ? 0x1p-49 * (0.1 + Math.abs(want[i] - 0.1)) : ulp * Math.abs(want[i]);
                    assertThat(Math.abs(got[i] - want[i]))
                            .as("%s element %d", dt, i)
                            .isLessThanOrEqualTo(bound);
                    differ += got[i] != want[i] ? 1 : 0;
                }
                if (dt != DType.F64) {
                    // rounded to 24 bits or fewer, the last bits of the f64 math rarely matter: nearly every element is
                    // the same
                    assertThat(differ)
                            .as("%s elements that differ in the last bit", dt)
                            .isLessThan(got.length / 1000);
                }
            }
        }
    }
}
