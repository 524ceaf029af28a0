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
