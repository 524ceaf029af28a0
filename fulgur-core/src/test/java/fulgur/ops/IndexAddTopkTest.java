package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import java.util.Arrays;
import java.util.Comparator;
import org.junit.jupiter.api.Test;

/** Indexing.indexAdd (value, gradient, shape checks) and Indexing.topkIndices against a sort. */
class IndexAddTopkTest extends ScopedTest {

    static Tensor randn(long seed, int... shape) {
        return Tensor.of(Ref.randn(seed, shape).v(), shape);
    }

    @Test
    void indexAddAccumulatesRepeatedPositions() {
        Tensor base = randn(1, 4, 3);
        Tensor src = randn(2, 5, 3);
        long[] idx = {2, 0, 2, 3, 2};
        Tensor out = Indexing.indexAdd(base, 0, Tensor.ofLongs(idx, 5), src);
        double[] expect = base.toDoubleArray();
        double[] s = src.toDoubleArray();
        for (int i = 0; i < idx.length; i++) {
            for (int c = 0; c < 3; c++) {
                expect[(int) idx[i] * 3 + c] += s[i * 3 + c];
            }
        }
        assertThat(out.toDoubleArray()).containsExactly(expect, org.assertj.core.data.Offset.offset(1e-15));
    }

    @Test
    void indexAddGradients() {
        Tensor idx = Tensor.ofLongs(new long[] {1, 1, 0, 3}, 4);
        GradCheck.check(t -> Indexing.indexAdd(t[0], 0, idx, t[1]), randn(3, 4, 2), randn(4, 4, 2));
        GradCheck.check(t -> Indexing.indexAdd(t[0], 1, idx, t[1].mT()), randn(5, 2, 5), randn(6, 4, 2));
    }

    @Test
    void indexAddRejectsBadArguments() {
        Tensor base = randn(7, 4, 3);
        assertThatThrownBy(() -> Indexing.indexAdd(base, 0, Tensor.ofLongs(new long[] {0, 1}, 2), randn(8, 3, 3)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("indexAdd")
                .hasMessageContaining("src");
        assertThatThrownBy(() -> Indexing.indexAdd(base, 0, Tensor.ofLongs(new long[] {0, 1}, 1, 2), randn(8, 2, 3)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("indexAdd")
                .hasMessageContaining("index");
        assertThatThrownBy(() -> Indexing.indexAdd(base, 0, randn(9, 2), randn(8, 2, 3)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("index");
        assertThatThrownBy(() -> Indexing.indexAdd(base, 0, Tensor.ofLongs(new long[] {4}, 1), randn(8, 1, 3)))
                .isInstanceOf(IndexOutOfBoundsException.class)
                .hasMessageContaining("index 4");
    }

    @Test
    void topkMatchesASortAndBreaksTiesTowardTheLowerPosition() {
        int rows = 7;
        int n = 9;
        double[] v = Ref.normal(11, rows * n, 1);
        v[3 * n + 2] = v[3 * n + 5] = 10; // a tie at the top of row 3
        Tensor x = Tensor.of(v, rows, n);
        for (DType dt : new DType[] {DType.F64, DType.F32}) {
            for (int k = 1; k <= n; k += 3) {
                long[] got = Indexing.topkIndices(x.to(dt), k).toLongArray();
                for (int r = 0; r < rows; r++) {
                    int row = r;
                    Integer[] order = new Integer[n];
                    Arrays.setAll(order, i -> i);
                    Arrays.sort(
                            order,
                            Comparator.<Integer>comparingDouble(i -> -v[row * n + i])
                                    .thenComparingInt(i -> i));
                    for (int j = 0; j < k; j++) {
                        assertThat(got[r * k + j])
                                .as("row %d rank %d (%s)", r, j, dt)
                                .isEqualTo((long) order[j]);
                    }
                }
            }
        }
        assertThat(Indexing.topkIndices(randn(1, 2, 3, 5), 2).shape()).containsExactly(2, 3, 2);
    }

    @Test
    void topkRejectsBadK() {
        assertThatThrownBy(() -> Indexing.topkIndices(randn(1, 2, 3), 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("topkIndices")
                .hasMessageContaining("k");
        assertThatThrownBy(() -> Indexing.topkIndices(randn(1, 2, 3), 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
