package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class GemmQuickTest {

    @Test
    void sizesParseWithAnOptionalLayout() {
        assertThat(GemmQuick.Shape.parse("64x3072x768:NT")).isEqualTo(new GemmQuick.Shape(64, 3072, 768, false, true));
        assertThat(GemmQuick.Shape.parse("3x5x7")).isEqualTo(new GemmQuick.Shape(3, 5, 7));
        assertThat(GemmQuick.Shape.parse("2X3X4:tn").transA()).isTrue();
        assertThat(GemmQuick.Shape.parse("64x3072x768:NT")).hasToString("64x3072x768:NT");
        assertThat(GemmQuick.Shape.parse("8x8x8:NN")).hasToString("8x8x8");
        assertThat(GemmQuick.Shape.parse("1024x1024x1024").flops()).isEqualTo(2.0 * 1024 * 1024 * 1024);
    }

    @Test
    void badSizesSayWhatIsExpected() {
        for (String bad : new String[] {"64x3072", "axbxc", "4x4x4:NX", "4x4x4:NT:TT", "0x4x4", "-2x4x4"}) {
            assertThatThrownBy(() -> GemmQuick.Shape.parse(bad))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("MxNxK")
                    .hasMessageContaining(bad);
        }
    }

    @Test
    void backToBackTimingGivesPositiveRates() {
        double[] g = GemmQuick.measureBackToBack(GemmQuick.Shape.parse("40x50x60:NT"), 0.05, 0.05);
        assertThat(g.length).isBetween(5, 64);
        for (double x : g) {
            assertThat(x).isPositive().isFinite();
        }
    }
}
