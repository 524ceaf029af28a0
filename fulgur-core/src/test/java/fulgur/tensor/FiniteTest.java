package fulgur.tensor;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.testing.ScopedTest;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FiniteTest extends ScopedTest {

    /** A tensor of {@code n} ones (in f64, cast to {@code dtype}) with {@code bad} at {@code at} (if at >= 0). */
    private static Tensor with(DType dtype, int n, int at, double bad) {
        double[] v = new double[n];
        java.util.Arrays.fill(v, 1.0);
        if (at >= 0) {
            v[at] = bad;
        }
        return Tensor.of(DType.F64, v, n).to(dtype);
    }

    @Test
    void findsTheFirstNonFiniteElementInEveryFloatingDtypeAndPosition() {
        // lengths around the vector width exercise both the vector loop and the scalar tail
        for (DType d : new DType[] {DType.F32, DType.F64, DType.BF16, DType.F16}) {
            for (int n : new int[] {1, 7, 8, 16, 33, 1000}) {
                assertThat(Finite.firstNonFinite(with(d, n, -1, 0)))
                        .as("%s n=%d all finite", d, n)
                        .isEqualTo(-1);
                for (int at : new int[] {0, n / 2, n - 1}) {
                    for (double bad : new double[] {Double.NaN, Double.POSITIVE_INFINITY, Double.NEGATIVE_INFINITY}) {
                        assertThat(Finite.firstNonFinite(with(d, n, at, bad)))
                                .as("%s n=%d %s at %d", d, n, bad, at)
                                .isEqualTo(at);
                    }
                }
            }
        }
    }

    @Test
    void largeFiniteValuesAndIntegersAreFinite() {
        assertThat(Finite.isFinite(
                        Tensor.of(new float[] {Float.MAX_VALUE, -Float.MAX_VALUE, Float.MIN_VALUE, 0f, -0f}, 5)))
                .isTrue();
        assertThat(Finite.isFinite(Tensor.ofInts(new int[] {0x7f800000, -1}, 2)))
                .isTrue(); // an int's bits are not a float's
        assertThat(Finite.isFinite(Tensor.zeros(DType.F32, 0))).isTrue();
    }

    @Test
    void viewsAreScannedInLogicalOrder() {
        Tensor m = Tensor.of(new float[] {1, 2, 3, Float.NaN, 5, 6}, 2, 3);
        Tensor t = m.transpose(0, 1); // [3, 2]: 1 4 / 2 5 / 3 6 with the NaN at (0, 1)
        assertThat(Finite.firstNonFinite(t)).isEqualTo(1);
        assertThat(Finite.firstNonFinite(m.narrow(0, 0, 1))).isEqualTo(-1);
    }

    @Test
    void describesTheFirstOffendingTensorByName() {
        Map<String, Tensor> state = new LinkedHashMap<>();
        state.put("a", with(DType.F32, 4, -1, 0));
        state.put("b", with(DType.BF16, 6, 5, Double.NEGATIVE_INFINITY));
        state.put("c", with(DType.F32, 4, 0, Double.NaN));
        assertThat(Finite.describeFirst(state)).isEqualTo("'b' has -Infinity at element 5 of [6]");
        state.remove("b");
        assertThat(Finite.describeFirst(state)).isEqualTo("'c' has NaN at element 0 of [4]");
        state.remove("c");
        assertThat(Finite.describeFirst(state)).isNull();
    }
}
