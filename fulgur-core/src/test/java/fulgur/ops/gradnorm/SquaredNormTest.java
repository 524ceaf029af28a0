package fulgur.ops.gradnorm;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import fulgur.backend.Kernels;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The CPU's vectorised sum of squares against an f64 sum over the elements, and against the composed form. */
class SquaredNormTest {

    private final SplittableRandom rnd = new SplittableRandom(3);

    private Tensor random(DType dtype, int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        double[] v = new double[n];
        for (int i = 0; i < n; i++) {
            v[i] = rnd.nextDouble(-2, 2);
        }
        return Tensor.of(DType.F64, v, shape).to(dtype);
    }

    private static double exact(List<Tensor> ts) {
        double s = 0;
        for (Tensor t : ts) {
            for (double x : t.toDoubleArray()) {
                s += x * x;
            }
        }
        return s;
    }

    @Test
    void theCpuKernelIsRegistered() {
        assertThat(Kernels.find(SquaredNormKernels.class, fulgur.tensor.Device.CPU))
                .isSameAs(SquaredNormCpu.INSTANCE);
    }

    @Test
    void sumsEveryElementOfEveryTensorInF64() {
        // lengths around the vector widths and the fixed chunk (65,536), several chunks, f32, f64 and bf16
        List<Tensor> ts = new ArrayList<>();
        for (int n : new int[] {1, 7, 15, 16, 17, 31, 33, 1000, 65_535, 65_536, 65_537, 200_003}) {
            ts.add(random(DType.F32, n));
        }
        ts.add(random(DType.F64, 3, 37));
        ts.add(random(DType.BF16, 5, 19));
        double want = exact(ts);
        double got = SquaredNorm.of(ts).item();
        assertThat(got).isCloseTo(want, within(1e-12 * want));
        assertThat(SquaredNorm.composed(ts).item()).isCloseTo(want, within(1e-12 * want));
        assertThat(SquaredNorm.of(ts).dtype()).isEqualTo(DType.F64);
    }

    @Test
    void aStridedViewIsSummedAsItsElements() {
        Tensor m = random(DType.F32, 40, 50);
        Tensor t = Views.transpose(m, 0, 1);
        Tensor slice = Views.narrow(m, 1, 3, 20);
        List<Tensor> ts = List.of(t, slice);
        assertThat(SquaredNorm.of(ts).item()).isCloseTo(exact(ts), within(1e-12 * exact(ts)));
    }

    @Test
    void nonFiniteValuesPropagate() {
        Tensor t = Tensor.of(DType.F64, new double[] {1, Double.NaN, 3}, 3).to(DType.F32);
        assertThat(SquaredNorm.of(List.of(t)).item()).isNaN();
        Tensor inf = Tensor.of(DType.F64, new double[] {1, Double.POSITIVE_INFINITY}, 2)
                .to(DType.F32);
        assertThat(SquaredNorm.of(List.of(inf)).item()).isInfinite();
    }

    @Test
    void noTensorsIsRefused() {
        assertThatThrownBy(() -> SquaredNorm.of(List.of())).hasMessageContaining("no tensors");
    }
}
