package fulgur.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The official TNL / MiniMax decay schedule, checked against the formula written out independently. */
class LightningDecayTest {

    /** slope_h written out: 2^(−8h/P) for h = 1..P, then 2^(−8(2i+1)/(2P)) for i = 0..H−P−1 (every second of 2P). */
    static double expectedSlope(int heads, int h) {
        int p = 1;
        while (p * 2 <= heads) {
            p *= 2;
        }
        if (h < p) {
            return Math.pow(2, -8.0 * (h + 1) / p);
        }
        int i = h - p;
        return Math.pow(2, -8.0 * (2 * i + 1) / (2 * p));
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 5, 8, 12, 16, 20, 40, 64, 96})
    void baseSlopesFollowTheAlibiRule(int heads) {
        double[] s = LightningDecay.slopes(heads);
        assertThat(s).hasSize(heads);
        for (int h = 0; h < heads; h++) {
            assertThat(s[h]).as("slope of head %d of %d", h, heads).isCloseTo(expectedSlope(heads, h), within(1e-14));
        }
    }

    @Test
    void twelveHeadsAppendEveryOtherSlopeOfSixteen() {
        double[] s = LightningDecay.slopes(12);
        for (int h = 0; h < 8; h++) {
            assertThat(s[h]).isCloseTo(Math.pow(2, -(h + 1)), within(1e-15));
        }
        assertThat(s[8]).isCloseTo(Math.pow(2, -0.5), within(1e-15));
        assertThat(s[9]).isCloseTo(Math.pow(2, -1.5), within(1e-15));
        assertThat(s[10]).isCloseTo(Math.pow(2, -2.5), within(1e-15));
        assertThat(s[11]).isCloseTo(Math.pow(2, -3.5), within(1e-15));
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 12, 16, 64})
    void tnlLambdasPerLayer(int heads) {
        int layers = 24;
        for (int layer : new int[] {0, 1, 7, 12, 22, 23}) {
            double[] lam = LightningDecay.tnlLambdas(heads, layer, layers);
            double factor = 1 - layer / 23.0 + 1e-5;
            for (int h = 0; h < heads; h++) {
                assertThat(lam[h])
                        .as("H=%d layer %d head %d", heads, layer, h)
                        .isCloseTo(Math.exp(-expectedSlope(heads, h) * factor), within(1e-13));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {8, 12, 16, 64})
    void minimaxLambdasPerLayer(int heads) {
        int layers = 80;
        for (int layer : new int[] {0, 1, 40, 78, 79}) {
            double[] lam = LightningDecay.minimaxLambdas(heads, layer, layers);
            double factor = 1 - layer / (79 + 1e-5) + 1e-5;
            for (int h = 0; h < heads; h++) {
                assertThat(lam[h])
                        .as("H=%d layer %d head %d", heads, layer, h)
                        .isCloseTo(Math.exp(-expectedSlope(heads, h) * factor), within(1e-13));
            }
        }
    }

    @Test
    void pinnedLiteralValuesAtLayerZero() {
        // fastest head: slope 2^(-8/H); slowest head: slope 2^-8
        assertThat(LightningDecay.tnlLambdas(8, 0, 24)[0]).isCloseTo(0.6065, within(1e-4));
        assertThat(LightningDecay.tnlLambdas(16, 0, 24)[0]).isCloseTo(0.4931, within(1e-4));
        assertThat(LightningDecay.tnlLambdas(32, 0, 24)[0]).isCloseTo(0.4313, within(1e-4));
        assertThat(LightningDecay.tnlLambdas(64, 0, 24)[0]).isCloseTo(0.3997, within(1e-4));
        for (int heads : new int[] {8, 16, 64}) {
            double[] lam = LightningDecay.tnlLambdas(heads, 0, 24);
            assertThat(lam[heads - 1]).isCloseTo(0.99610, within(1e-5));
        }
        // H = 12: slowest is head 7 (slope 2^-8), then the interleaved 2^-0.5.. heads
        double[] lam12 = LightningDecay.tnlLambdas(12, 0, 24);
        assertThat(lam12[7]).isCloseTo(0.99610, within(1e-5));
        assertThat(lam12[8]).isCloseTo(0.4931, within(1e-4));
        // last layer: factor 1e-5, essentially no decay
        assertThat(LightningDecay.tnlLambdas(8, 23, 24)[0]).isCloseTo(Math.exp(-0.5e-5), within(1e-12));
    }

    @Test
    void singleLayerModelUsesTheLayerZeroFactor() {
        double[] tnl = LightningDecay.tnlSlopes(8, 0, 1);
        double[] mm = LightningDecay.minimaxSlopes(8, 0, 1);
        for (int h = 0; h < 8; h++) {
            assertThat(tnl[h]).isCloseTo(expectedSlope(8, h) * (1 + 1e-5), within(1e-15));
            assertThat(mm[h]).isCloseTo(expectedSlope(8, h) * (1 + 1e-5), within(1e-15));
        }
    }

    /**
     * Pitfall: fla's chunk_lightning_attn uses λ_h = exp(−(8h/H)(1 − l/L)), h = 0..H−1 — the
     * paper's formula — under which head 0 never decays and the last head has λ ≈ e^−7 at layer 0. The official
     * models use ALiBi slopes; the two schedules are not interchangeable and ours must be the official one.
     */
    @Test
    void isNotFlasChunkLightningAttnFormula() {
        int heads = 8, layers = 24;
        double[] ours = LightningDecay.tnlLambdas(heads, 0, layers);
        double[] fla = new double[heads];
        for (int h = 0; h < heads; h++) {
            fla[h] = Math.exp(-(8.0 / heads) * (1 - 0.0 / layers) * h);
        }
        assertThat(fla[0]).isEqualTo(1.0);
        assertThat(fla[heads - 1]).isLessThan(1e-3);
        assertThat(ours[0]).isCloseTo(0.6065, within(1e-4));
        assertThat(ours[heads - 1]).isGreaterThan(0.996);
        double maxDiff = 0;
        for (int h = 0; h < heads; h++) {
            maxDiff = Math.max(maxDiff, Math.abs(ours[h] - fla[h]));
        }
        assertThat(maxDiff).isGreaterThan(0.3);
        // at every layer, every head decays (λ < 1), unlike fla's head 0
        for (int layer = 0; layer < layers; layer++) {
            for (double l : LightningDecay.tnlLambdas(heads, layer, layers)) {
                assertThat(l).isLessThan(1.0).isGreaterThan(0.0);
            }
        }
    }

    @Test
    void badArgumentsAreRejected() {
        assertThatThrownBy(() -> LightningDecay.slopes(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("heads = 0");
        assertThatThrownBy(() -> LightningDecay.tnlSlopes(8, 24, 24))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("layer = 24 of numLayers = 24");
        assertThatThrownBy(() -> LightningDecay.minimaxSlopes(8, -1, 4))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("lightning.decay.minimaxSlopes");
    }
}
