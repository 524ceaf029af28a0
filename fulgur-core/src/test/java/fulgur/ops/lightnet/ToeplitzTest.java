package fulgur.ops.lightnet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class ToeplitzTest {

    @Test
    void equalsTheDecayedPrefixSumAndItsGradientsMatchFiniteDifferences() {
        int b = 2, l = 6, h = 3, d = 2;
        SplittableRandom r = new SplittableRandom(1);
        double[] x = LightNetTest.gauss(r, b * l * h * d, 1);
        double[] coef = LightNetTest.gauss(r, h, 1);
        double[] logDecay = {-0.1, -1.5, -30};
        double[] want = new double[x.length];
        for (int bb = 0; bb < b; bb++) {
            for (int t = 0; t < l; t++) {
                for (int hh = 0; hh < h; hh++) {
                    for (int c = 0; c < d; c++) {
                        double acc = 0;
                        for (int s = 0; s <= t; s++) {
                            acc += Math.pow(Math.exp(logDecay[hh]), t - s) * x[((bb * l + s) * h + hh) * d + c];
                        }
                        want[((bb * l + t) * h + hh) * d + c] = coef[hh] * acc;
                    }
                }
            }
        }
        try (Scope s = Scope.open()) {
            Tensor xt = Tensor.of(x, b, l, h, d);
            Tensor ct = Tensor.of(coef, h);
            Tensor lt = Tensor.of(logDecay, h);
            assertThat(GradCheck.relErr(Toeplitz.causal(xt, ct, lt).toDoubleArray(), want))
                    .isLessThan(1e-14);
            assertThat(GradCheck.relErr(
                            Toeplitz.causal(xt.to(DType.F32), ct.to(DType.F32), lt.to(DType.F32))
                                    .toDoubleArray(),
                            want))
                    .isLessThan(1e-6);
            GradCheck.check(
                    in -> Toeplitz.causal(in[0], in[1], in[2]), xt, ct, Tensor.of(new double[] {-0.1, -1.5, -0.7}, h));
        }
    }

    @Test
    void badShapesNameTheArgument() {
        try (Scope s = Scope.open()) {
            Tensor x = Tensor.zeros(1, 4, 2, 3);
            assertThatThrownBy(() -> Toeplitz.causal(Tensor.zeros(4, 2, 3), Tensor.zeros(2), Tensor.zeros(2)))
                    .hasMessageContaining("x must be");
            assertThatThrownBy(() -> Toeplitz.causal(x, Tensor.zeros(3), Tensor.zeros(2)))
                    .hasMessageContaining("coef");
            assertThatThrownBy(() -> Toeplitz.causal(x, Tensor.zeros(2), Tensor.zeros(2, 1)))
                    .hasMessageContaining("logDecay");
        }
    }
}
