package fulgur.cuda.ops.gla;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cuda.ops.Sequences;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Launch geometry of the tensor-core kernels (no GPU needed). */
class GlaKernelsTest {
    /** The opt-in shared memory per block of Hopper (H100, H200): 227 KiB. */
    static final int HOPPER_SMEM = 232448;

    @Test
    void theWalksFitHopperSharedMemoryAtBothKeyWidths() {
        for (int dk : new int[] {64, 128}) {
            assertThat(GlaLauncher.fwdSmem(dk)).as("forward, DK=%d", dk).isLessThanOrEqualTo(HOPPER_SMEM);
            assertThat(GlaLauncher.dqSmem(dk)).as("dq, DK=%d", dk).isLessThanOrEqualTo(HOPPER_SMEM);
            assertThat(GlaLauncher.dkdvSmem(dk)).as("dk/dv, DK=%d", dk).isLessThanOrEqualTo(HOPPER_SMEM);
        }
        // the dk/dv walk holds the most tiles: raw q, k, g; Q1 (hi, lo), K2; v, dO double-buffered; G; A then dP (hi,
        // lo);
        // beta; vectors; masks; six rows of per-channel sums
        assertThat(GlaLauncher.dkdvSmem(128))
                .isEqualTo(5 * 16384
                        + 32768
                        + 4 * 8192
                        + 16384
                        + 2 * 8192
                        + 64 * 136 * 4
                        + 20 * 128 * 4
                        + 64
                        + 6 * 128 * 4);
    }

    @Test
    void blocksOfEverySegmentGetDistinctStateSlots() {
        // packed sequences starting off the 64-token grid, one of a single token, several segments of 64 and 128 tokens
        for (int segLen : new int[] {64, 128, Integer.MAX_VALUE}) {
            Sequences sq = Sequences.of(new int[] {0, 50, 51, 200, 330, 1000}, segLen);
            int[] blocks = GlaLauncher.blockTable(sq);
            long slots = GlaLauncher.slots(blocks);
            Set<Integer> used = new HashSet<>();
            int covered = 0;
            for (int b = 0; b < blocks.length / 3; b++) {
                int t0 = blocks[3 * b], t1 = blocks[3 * b + 1], slot = blocks[3 * b + 2];
                assertThat(t1 - t0).isBetween(1, GlaLauncher.BLOCK);
                assertThat(t0).isEqualTo(b == 0 ? 0 : blocks[3 * b - 2]);
                assertThat(used.add(slot))
                        .as("slot %d of block [%d, %d) is taken", slot, t0, t1)
                        .isTrue();
                assertThat((long) slot).isLessThan(slots);
                covered += t1 - t0;
            }
            assertThat(covered).isEqualTo(1000);
            assertThat(slots).isLessThanOrEqualTo(1000 / GlaLauncher.BLOCK + 2L * sq.segments() + 1);
        }
    }
}
