package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.Random;
import jdk.incubator.vector.FloatVector;
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
            float[] fused = acc.clone(), wantFused = acc.clone();
            AttentionKernel.weighted(p, 2, v, 0, keys, n, acc, 4, false);
            assertThat(acc).as("width %d", n).containsExactly(want);
            // the paged kernel's form: values from an offset, the elements past the last whole vector fused
            float[] shifted = new float[v.length + 5];
            System.arraycopy(v, 0, shifted, 5, v.length);
            int tail = n - n % FloatVector.SPECIES_PREFERRED.length();
            for (int e = tail; e < n; e++) {
                float a = wantFused[4 + e];
                for (int c = 0; c < keys; c++) {
                    a = Math.fma(v[c * n + e], p[2 + c], a);
                }
                wantFused[4 + e] = a;
            }
            AttentionKernel.weighted(p, 2, shifted, 5, keys, n, fused, 4, true);
            assertThat(Arrays.copyOfRange(fused, 4, 4 + tail))
                    .as("width %d, whole vectors", n)
                    .containsExactly(Arrays.copyOfRange(acc, 4, 4 + tail));
            for (int e = tail; e < n; e++) {
                assertThat(fused[4 + e])
                        .as("width %d, fused tail element %d", n, e)
                        .isEqualTo(wantFused[4 + e]);
            }
        }
    }
}
