package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * {@link LinearAlgebra#siluMulLinear} (the product recomputed in the backward) gives the values and gradients of the
 * stored form {@code linear(siluMul(gate, up), w)}, and passes finite differences.
 */
class SiluMulLinearTest {

    @Test
    void equalsTheStoredFormAndPassesFiniteDifferences() {
        Rng r = new Rng(3);
        Tensor gate = r.normal(DType.F64, 0, 2, 2, 3, 5),
                up = r.normal(DType.F64, 0, 1, 2, 3, 5),
                w = r.normal(DType.F64, 0, 0.5, 4, 5);
        Tensor dy = r.normal(DType.F64, 0, 1, 2, 3, 4);
        Tensor[] a = {
            gate.copy().requiresGrad(true),
            up.copy().requiresGrad(true),
            w.copy().requiresGrad(true)
        };
        Tensor[] b = {
            gate.copy().requiresGrad(true),
            up.copy().requiresGrad(true),
            w.copy().requiresGrad(true)
        };
        Tensor ya = LinearAlgebra.siluMulLinear(a[0], a[1], a[2]);
        Tensor yb = LinearAlgebra.linear(Activations.siluMul(b[0], b[1]), b[2], null);
        assertThat(ya.shape()).containsExactly(2, 3, 4);
        assertThat(GradCheck.relErr(ya.toDoubleArray(), yb.toDoubleArray())).isLessThan(1e-15);
        Elementwise.mul(ya, dy).sum().backward();
        Elementwise.mul(yb, dy).sum().backward();
        for (int i = 0; i < 3; i++) {
            assertThat(GradCheck.relErr(a[i].grad().toDoubleArray(), b[i].grad().toDoubleArray()))
                    .as("gradient %d", i)
                    .isLessThan(1e-14);
        }
        GradCheck.check(t -> LinearAlgebra.siluMulLinear(t[0], t[1], t[2]), gate.copy(), up.copy(), w.copy());
    }
}
