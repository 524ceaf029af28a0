package fulgur.ops.attention;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.Random;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/** The kernel's scores of 8 tokens at once against its one-token dot product. */
class PagedAttentionKernelTest {

    @Test
    void eightScoresAtOnceAreTheOneTokenDotsBitForBit() {
        assumeTrue(FloatVector.SPECIES_PREFERRED.length() == 16, "the 8-token scores run on 16-lane vectors only");
        Random r = new Random(5);
        for (int d : new int[] {16, 32, 64, 80, 128, 17}) {
            float[] q = new float[d + 3], k = new float[8 * d + 7], s = new float[20];
            for (int i = 0; i < q.length; i++) {
                q[i] = (float) r.nextGaussian();
            }
            for (int i = 0; i < k.length; i++) {
                // magnitudes far apart, so that a different order of the additions would round differently
                k[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(7) - 3));
            }
            PagedAttentionKernel.dots8(q, 3, k, 7, d, s, 2);
            for (int c = 0; c < 8; c++) {
                float want = PagedAttentionKernel.dot(q, 3, k, 7 + c * d, d);
                assertThat(Float.floatToRawIntBits(s[2 + c]))
                        .as("d = %d, token %d: %s against %s", d, c, s[2 + c], want)
                        .isEqualTo(Float.floatToRawIntBits(want));
            }
        }
    }
}
