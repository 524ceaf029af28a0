package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The forward kernel's blocked loops against the one-row, one-key steps they replace, bit for bit. */
class AttentionKernelTest {
    private final Random r = new Random(9);

    private float[] random(int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            // magnitudes far apart, so that any other order of the operations would round differently
            x[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(5) - 2));
        }
        return x;
    }

    @Test
    void twoRowsOfScoresAtOnceAreTheOneRowScores() {
        for (int dim : new int[] {16, 64, 80, 7}) {
            for (int n : new int[] {1, 16, 17, 64}) {
                float[] x = random(2 * dim + 3), yT = random(dim * AttentionKernel.BLOCK_K);
                float[] got = new float[2 * AttentionKernel.BLOCK_K + 5], want = new float[got.length];
                AttentionKernel.dots2(x, 3, yT, n, dim, got, 5);
                AttentionKernel.dots(x, 3, yT, n, dim, want, 5);
                AttentionKernel.dots(x, 3 + dim, yT, n, dim, want, 5 + AttentionKernel.BLOCK_K);
                assertThat(got).as("dim %d, %d keys", dim, n).containsExactly(want);
            }
        }
    }

    @Test
    void theWeightedSumOfValuesIsEveryKeysAxpyInTurn() {
        for (int n : new int[] {64, 80, 16, 7, 128}) {
            int keys = 37;
            float[] p = random(keys + 2), v = random(keys * n), acc = random(n + 4);
            float[] want = acc.clone();
            for (int c = 0; c < keys; c++) {
                AttentionKernel.axpy(p[2 + c], v, c * n, want, 4, n);
            }
            AttentionKernel.weighted(p, 2, v, keys, n, acc, 4);
            assertThat(acc).as("width %d", n).containsExactly(want);
        }
    }
}
