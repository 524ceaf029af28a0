package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class LrScheduleTest {

    private static final double EPS = 1e-15;

    @Test
    void cosineWarmupRampsLinearlyToPeak() {
        LrSchedule s = LrSchedule.cosine(1e-3, 100, 1100, 0.1);
        assertThat(s.lr(0)).isCloseTo(1e-5, within(EPS)); // (0+1)/100 of the peak: never a zero step
        assertThat(s.lr(49)).isCloseTo(5e-4, within(EPS)); // half-way through warmup
        assertThat(s.lr(98)).isCloseTo(9.9e-4, within(EPS));
        assertThat(s.lr(99)).isEqualTo(1e-3); // last warmup step is exactly the peak
        assertThat(s.lr(100)).isEqualTo(1e-3); // decay starts at the peak
    }

    @Test
    void cosineDecayHitsMidpointQuarterAndEnd() {
        LrSchedule s = LrSchedule.cosine(1e-3, 100, 1100, 0.1);
        double min = 1e-4;
        assertThat(s.lr(600)).isCloseTo(min + (1e-3 - min) * 0.5, within(EPS)); // 5.5e-4 at the midpoint
        assertThat(s.lr(350)).isCloseTo(min + (1e-3 - min) * 0.5 * (1 + Math.cos(Math.PI / 4)), within(EPS));
        assertThat(s.lr(850)).isCloseTo(min + (1e-3 - min) * 0.5 * (1 + Math.cos(3 * Math.PI / 4)), within(EPS));
        assertThat(s.lr(1099))
                .isGreaterThan(min)
                .isCloseTo(min + (1e-3 - min) * 0.5 * (1 + Math.cos(Math.PI * 999 / 1000)), within(EPS));
        assertThat(s.lr(1100)).isEqualTo(min);
        assertThat(s.lr(1101)).isEqualTo(min);
        assertThat(s.lr(Long.MAX_VALUE)).isEqualTo(min); // clamped at the end value
    }

    @Test
    void cosineIsNonIncreasingAfterWarmupAndNonDecreasingDuring() {
        LrSchedule s = LrSchedule.cosine(3e-4, 37, 1000, 0.0);
        for (long t = 1; t < 37; t++) {
            assertThat(s.lr(t)).isGreaterThan(s.lr(t - 1));
        }
        for (long t = 37; t < 1200; t++) {
            assertThat(s.lr(t)).isLessThanOrEqualTo(s.lr(t - 1));
        }
        assertThat(s.lr(1000)).isZero();
    }

    @Test
    void linearDecayMidpointAndEnd() {
        LrSchedule s = LrSchedule.linear(2.0, 10, 110, 0.25);
        assertThat(s.lr(0)).isEqualTo(0.2);
        assertThat(s.lr(4)).isCloseTo(1.0, within(EPS));
        assertThat(s.lr(9)).isEqualTo(2.0);
        assertThat(s.lr(10)).isEqualTo(2.0);
        assertThat(s.lr(35)).isCloseTo(2.0 - 1.5 * 0.25, within(EPS));
        assertThat(s.lr(60)).isCloseTo(1.25, within(EPS)); // (peak + min) / 2
        assertThat(s.lr(109)).isCloseTo(0.5 + 1.5 / 100, within(EPS));
        assertThat(s.lr(110)).isEqualTo(0.5);
        assertThat(s.lr(10_000)).isEqualTo(0.5);
    }

    @Test
    void constantAfterWarmup() {
        LrSchedule s = LrSchedule.constant(0.01, 4);
        assertThat(s.lr(0)).isCloseTo(0.0025, within(EPS));
        assertThat(s.lr(1)).isCloseTo(0.005, within(EPS));
        assertThat(s.lr(3)).isEqualTo(0.01);
        assertThat(s.lr(4)).isEqualTo(0.01);
        assertThat(s.lr(1_000_000)).isEqualTo(0.01);
        assertThat(LrSchedule.constant(0.01, 0).lr(0)).isEqualTo(0.01);
    }

    @Test
    void zeroWarmupStartsAtPeak() {
        LrSchedule cos = LrSchedule.cosine(1.0, 0, 100, 0.0);
        assertThat(cos.lr(0)).isEqualTo(1.0);
        assertThat(cos.lr(50)).isCloseTo(0.5, within(EPS));
        assertThat(cos.lr(100)).isZero();
        LrSchedule lin = LrSchedule.linear(1.0, 0, 100, 0.0);
        assertThat(lin.lr(0)).isEqualTo(1.0);
        assertThat(lin.lr(25)).isCloseTo(0.75, within(EPS));
    }

    @Test
    void warmupEqualToTotalDropsToMinAfterWarmup() {
        LrSchedule s = LrSchedule.cosine(1.0, 5, 5, 0.1);
        assertThat(s.lr(4)).isEqualTo(1.0);
        assertThat(s.lr(5)).isEqualTo(0.1);
        assertThat(LrSchedule.linear(1.0, 0, 0, 0.3).lr(0)).isEqualTo(0.3);
    }

    @Test
    void minFractionOneIsFlat() {
        LrSchedule s = LrSchedule.cosine(0.5, 0, 10, 1.0);
        for (long t = 0; t < 20; t++) {
            assertThat(s.lr(t)).isEqualTo(0.5);
        }
    }

    @Test
    void validatesArgumentsWithClearMessages() {
        assertThatThrownBy(() -> LrSchedule.cosine(1e-3, 10, 100, 0.1).lr(-1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("step must be >= 0, got -1");
        assertThatThrownBy(() -> LrSchedule.cosine(1e-3, -1, 100, 0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("warmup steps must be >= 0");
        assertThatThrownBy(() -> LrSchedule.linear(1e-3, 0, -5, 0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("total steps must be >= 0");
        assertThatThrownBy(() -> LrSchedule.cosine(1e-3, 200, 100, 0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("warmup steps (200) must not exceed total steps (100)");
        assertThatThrownBy(() -> LrSchedule.cosine(1e-3, 0, 100, 1.5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cannot exceed the peak");
        assertThatThrownBy(() -> LrSchedule.cosine(1e-3, 0, 100, -0.1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[0, 1]");
        assertThatThrownBy(() -> LrSchedule.cosine(1e-3, 0, 100, Double.NaN))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("NaN");
        assertThatThrownBy(() -> LrSchedule.constant(0, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("peak learning rate");
        assertThatThrownBy(() -> LrSchedule.constant(Double.POSITIVE_INFINITY, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("finite");
        assertThatThrownBy(() -> LrSchedule.of(LrSchedule.Kind.CONSTANT, 1, 10, 5, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("must not exceed");
    }

    @Test
    void kindParsesCliNames() {
        assertThat(LrSchedule.Kind.parse("cosine")).isEqualTo(LrSchedule.Kind.COSINE);
        assertThat(LrSchedule.Kind.parse(" COSINE ")).isEqualTo(LrSchedule.Kind.COSINE);
        assertThat(LrSchedule.Kind.parse("cos")).isEqualTo(LrSchedule.Kind.COSINE);
        assertThat(LrSchedule.Kind.parse("Linear")).isEqualTo(LrSchedule.Kind.LINEAR);
        assertThat(LrSchedule.Kind.parse("constant")).isEqualTo(LrSchedule.Kind.CONSTANT);
        assertThat(LrSchedule.Kind.parse("const")).isEqualTo(LrSchedule.Kind.CONSTANT);
        assertThat(LrSchedule.Kind.LINEAR.cliName()).isEqualTo("linear");
        assertThatThrownBy(() -> LrSchedule.Kind.parse("exp"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("unknown learning-rate schedule 'exp': expected one of cosine, linear, constant");
        assertThatThrownBy(() -> LrSchedule.Kind.parse(null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void parseBuildsTheNamedSchedule() {
        LrSchedule cos = LrSchedule.parse("cosine", 1.0, 0, 100, 0.0);
        LrSchedule lin = LrSchedule.parse("linear", 1.0, 0, 100, 0.0);
        LrSchedule con = LrSchedule.parse("constant", 1.0, 0, 100, 0.0);
        assertThat(cos.lr(25)).isCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), within(EPS));
        assertThat(lin.lr(25)).isCloseTo(0.75, within(EPS));
        assertThat(con.lr(25)).isEqualTo(1.0);
        assertThat(con.lr(500)).isEqualTo(1.0);
        assertThat(cos.toString()).isEqualTo("cosine(peak=1.0, warmup=0, total=100, min=0.0)");
        assertThat(con.toString()).isEqualTo("constant(peak=1.0, warmup=0)");
    }
}
