package fulgur.cuda.ops.gla;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Launch geometry of the tensor-core kernels (no GPU needed). */
class GlaKernelsTest {
  /** The opt-in shared memory per block of Hopper (H100, H200): 227 KiB. */
  static final int HOPPER_SMEM = 232448;

  @Test
  void theWalksFitHopperSharedMemoryAtBothKeyWidths() {
    for (int dk : new int[] {64, 128}) {
      assertThat(GlaKernels.fwdSmem(dk)).as("forward, DK=%d", dk).isLessThanOrEqualTo(HOPPER_SMEM);
      assertThat(GlaKernels.dqSmem(dk)).as("dq, DK=%d", dk).isLessThanOrEqualTo(HOPPER_SMEM);
      assertThat(GlaKernels.dkdvSmem(dk)).as("dk/dv, DK=%d", dk).isLessThanOrEqualTo(HOPPER_SMEM);
    }
    // the dk/dv walk holds the most tiles: raw q, k, g; Q1, K2; v, dO double-buffered; G; two score tiles; beta; vectors
    assertThat(GlaKernels.dkdvSmem(128)).isEqualTo(4 * 16384 + 32768 + 4 * 8192 + 16384 + 2 * 8192 + 64 * 136 * 4 + 20 * 128 * 4 + 64);
  }
}
