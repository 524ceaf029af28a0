package fulgur.cuda.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** CPU-side checks of the lightning attention op (no GPU needed). */
class LightningAttentionTest {
    @Test
    void segmentLengthFillsTheMultiprocessors() {
        // B*H = 128 on 132 SMs: one segment (no state phases) at any T
        assertThat(LightningAttention.segmentLengthFor(new LightningAttention.Shape(4, 32768, 32, 128, 128), 132))
                .isEqualTo(32768);
        assertThat(LightningAttention.segmentLengthFor(new LightningAttention.Shape(4, 2000, 32, 128, 128), 132))
                .isEqualTo(2048);
        // B*H = 6: as many segments as blocks allow, up to filling the waves
        assertThat(LightningAttention.segmentLengthFor(new LightningAttention.Shape(2, 300, 3, 128, 128), 132))
                .isEqualTo(64);
        int seg = LightningAttention.segmentLengthFor(new LightningAttention.Shape(1, 100_000, 6, 128, 128), 132);
        int ns = (100_000 + seg - 1) / seg;
        assertThat(6L * ns).isGreaterThanOrEqualTo((long) (0.85 * 132));
    }

    @Test
    void statePhasesCutWalkSegmentsWhileTheirCtasFitOneWave() {
        // TNL-385M at 2048 × 8: 8 heads, two walk segments of 1024 → 128 CTAs; the state phases take two a
        // multiprocessor, so 256 CTAs of 512 tokens fill one wave of 132 × 2 and 512 would not
        LightningAttention.Shape tnl = new LightningAttention.Shape(8, 2048, 8, 128, 128);
        assertThat(LightningAttention.stateStepFor(tnl, 1024, 132, 4)).isEqualTo(2);
        // few CTAs: up to four state segments a walk segment
        assertThat(LightningAttention.stateStepFor(new LightningAttention.Shape(1, 4096, 4, 128, 128), 1024, 132, 4))
                .isEqualTo(4);
        // one walk segment: no state phases; a wave already full: no cut
        assertThat(LightningAttention.stateStepFor(tnl, 2048, 132, 4)).isEqualTo(1);
        assertThat(LightningAttention.stateStepFor(new LightningAttention.Shape(32, 2048, 8, 128, 128), 1024, 132, 4))
                .isEqualTo(1);
        // state segments stay multiples of the 64-token block: 1088 = 17 × 64 cannot be halved
        assertThat(LightningAttention.stateStepFor(new LightningAttention.Shape(1, 4096, 4, 128, 128), 1088, 132, 4))
                .isEqualTo(1);
        // capped
        assertThat(LightningAttention.stateStepFor(tnl, 1024, 132, 1)).isEqualTo(1);
    }

    @Test
    void rejectsUnsupportedHeadDims() {
        assertThatThrownBy(() -> new LightningAttention.Shape(1, 10, 1, 96, 128))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("dk=96");
    }

    @Test
    void tnlSlopes() {
        float[] s = LightningAttention.tnlSlopes(8);
        assertThat(s[0]).isEqualTo((float) Math.pow(2, -1));
        assertThat(s[7]).isEqualTo((float) Math.pow(2, -8));
        float[] s6 = LightningAttention.tnlSlopes(6); // 4 of 2^(-8h/4), then every second of 2^(-8h/8)
        assertThat(s6).containsExactly(0.25f, 0.0625f, 0.015625f, 0.00390625f, (float) Math.pow(2, -1), (float)
                Math.pow(2, -3));
    }
}
