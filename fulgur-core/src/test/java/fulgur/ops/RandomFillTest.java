package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/**
 * Filling a tensor in place draws what {@link Rng#normal} draws from the same generator (the CPU has no kernel: the
 * values are drawn on the host and copied), and a zero std draws nothing but still takes its stream.
 */
class RandomFillTest {

    @Test
    void fillsWithTheGeneratorsNextNormalDraw() {
        try (Scope s = Scope.open()) {
            for (DType dt : new DType[] {DType.F32, DType.F64, DType.BF16}) {
                Tensor t = Tensor.zeros(dt, 3, 5, 7);
                Rng a = new Rng(9);
                Rng b = new Rng(9);
                b.normal(dt, 0, 1, 2); // one stream taken before
                a.nextStream();
                RandomFill.normal(t, a, 0.25, 0.02);
                assertThat(t.toDoubleArray())
                        .as("%s", dt)
                        .containsExactly(b.normal(dt, 0.25, 0.02, 3, 5, 7).toDoubleArray());
                assertThat(a.counter()).isEqualTo(b.counter());
            }
        }
    }

    @Test
    void aZeroStdGivesTheMeanAndKeepsTheStreamsThatFollow() {
        try (Scope s = Scope.open()) {
            Rng a = new Rng(4);
            Rng b = new Rng(4);
            assertThat(a.normal(DType.F32, 0, 0, 2, 3).toDoubleArray()).containsOnly(0.0);
            assertThat(a.normal(DType.F32, 1.5, 0, 4).toDoubleArray()).containsOnly(1.5);
            b.normal(DType.F32, 0, 1, 2, 3);
            b.normal(DType.F32, 0, 1, 4);
            assertThat(a.normal(DType.F32, 0, 1, 8).toDoubleArray())
                    .containsExactly(b.normal(DType.F32, 0, 1, 8).toDoubleArray());
        }
    }

    @Test
    void refusesWhatItCannotFill() {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.zeros(DType.F32, 4, 6);
            assertThatThrownBy(() -> RandomFill.normal(t.transpose(0, 1), new Rng(1), 0, 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("normal: expected a contiguous floating tensor");
            assertThatThrownBy(() -> RandomFill.normal(Tensor.zeros(DType.I32, 3), new Rng(1), 0, 1))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("normal: expected a contiguous floating tensor");
        }
    }
}
