package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

class SmokeTest {
    @Test
    void matmulAndGradients() {
        Rng rng = new Rng(1);
        Tensor a = rng.normal(DType.F64, 0, 1, 3, 4);
        Tensor b = rng.normal(DType.F64, 0, 1, 4, 5);
        Tensor c = a.matmul(b);
        assertThat(c.shape()).containsExactly(3, 5);
        double expect = 0;
        for (int k = 0; k < 4; k++) {
            expect += a.get(1, k) * b.get(k, 2);
        }
        assertThat(c.get(1, 2)).isCloseTo(expect, org.assertj.core.data.Offset.offset(1e-12));
        GradCheck.check(x -> x[0].matmul(x[1]).silu().add(x[0].sum()), a, b);
        GradCheck.check(
                x -> Norms.rmsNorm(x[0], x[1], 1e-6),
                rng.normal(DType.F64, 0, 1, 3, 5),
                rng.normal(DType.F64, 1, 0.1, 5));
        GradCheck.check(x -> x[0].softmax(-1), rng.normal(DType.F64, 0, 1, 3, 5));
        GradCheck.check(x -> x[0].permute(1, 0).reshape(-1).narrow(0, 2, 5).exp(), rng.normal(DType.F64, 0, 1, 3, 5));
        GradCheck.check(
                x -> Losses.crossEntropy(x[0], Tensor.ofInts(new int[] {1, -100, 4}, 3), -100, 0.1),
                rng.normal(DType.F64, 0, 1, 3, 5));
    }

    @Test
    void f32Matmul() {
        Rng rng = new Rng(2);
        Tensor a = rng.normal(0, 1, 2, 33, 17);
        Tensor b = rng.normal(0, 1, 17, 9);
        Tensor c = a.matmul(b);
        Tensor c64 = a.to(DType.F64).matmul(b.to(DType.F64));
        assertThat(GradCheck.relErr(c.toFloatArray(), c64.toDoubleArray())).isLessThan(1e-5);
    }
}
