package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Test;

class GemvQuickTest {

    @Test
    void theReadSumsEveryFloatOfEachOfItsEightParts() {
        try (Arena arena = Arena.ofConfined()) {
            int n = 8 * 64 * 3; // eight parts of three 512-bit vectors (six 256-bit ones)
            MemorySegment m = arena.allocate((long) n * Float.BYTES, 64);
            double expected = 0;
            for (int i = 0; i < n; i++) {
                m.setAtIndex(ValueLayout.JAVA_FLOAT, i, i % 7);
                expected += i % 7;
            }
            assertThat((double) GemvQuick.sum(m, 0, (long) n * Float.BYTES)).isEqualTo(expected);
            // a share that starts inside the segment reads only its own bytes
            long half = (long) n / 2 * Float.BYTES;
            double second = 0;
            for (int i = n / 2; i < n; i++) {
                second += i % 7;
            }
            assertThat((double) GemvQuick.sum(m, half, half)).isEqualTo(second);
        }
    }

    @Test
    void everyVariantGetsAPositiveRateInEveryRound() {
        try (Scope scope = Scope.open("gemv-test");
                Arena arena = Arena.ofShared()) {
            Rng rng = new Rng(1);
            List<GemvQuick.Matrix> w = List.of(
                    GemvQuick.Matrix.of(scope.run(() -> rng.normal(0, 1, 96, 40))),
                    GemvQuick.Matrix.of(scope.run(() -> rng.normal(0, 1, 33, 64))));
            GemvQuick.Case c = new GemvQuick.Case("small", w);
            assertThat(c.bytes()).isEqualTo((96L * 40 + 33L * 64) * Float.BYTES);
            double[][][] g = GemvQuick.measure(List.of(c), List.of(GemvQuick.read(), GemvQuick.fulgur(arena)), 3);
            assertThat(g.length).isEqualTo(1);
            assertThat(g[0].length).isEqualTo(2);
            for (double[] rounds : g[0]) {
                assertThat(rounds).hasSize(3);
                for (double v : rounds) {
                    assertThat(v).isPositive().isFinite();
                }
            }
        }
    }

    @Test
    void mediansAndRatiosAreTakenOverRounds() {
        assertThat(GemvQuick.median(new double[] {3, 1, 2})).isEqualTo(2);
        assertThat(GemvQuick.median(new double[] {4, 1, 3, 2})).isEqualTo(2.5);
        assertThat(GemvQuick.medianRatio(new double[] {2, 9, 3}, new double[] {1, 3, 3}))
                .isEqualTo(2);
    }
}
