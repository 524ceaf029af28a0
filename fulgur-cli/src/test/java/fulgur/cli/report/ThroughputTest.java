package fulgur.cli.report;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ThroughputTest {

    private static final long S = 1_000_000_000L;

    @Test
    void firstIntervalSetsRateThenTimeWeightedEma() {
        AtomicLong clock = new AtomicLong(5 * S);
        Throughput t = new Throughput(0, 10.0, clock::get);
        assertThat(t.rate()).isNaN();
        assertThat(t.averageRate()).isNaN();

        clock.addAndGet(2 * S);
        t.update(2000); // 1000/s
        assertThat(t.rate()).isEqualTo(1000.0);

        clock.addAndGet(5 * S);
        t.update(2000 + 5 * 3000); // 3000/s over 5 s
        double alpha = 1 - Math.exp(-5 / 10.0);
        assertThat(t.rate()).isCloseTo(1000 + alpha * 2000, within(1e-9));
        assertThat(t.averageRate()).isCloseTo(17000 / 7.0, within(1e-9));
        assertThat(t.count()).isEqualTo(17000);
        assertThat(t.countSinceStart()).isEqualTo(17000);
        assertThat(t.elapsedSeconds()).isEqualTo(7.0);
    }

    @Test
    void resultDoesNotDependOnUpdateFrequencyAtConstantSpeed() {
        AtomicLong c1 = new AtomicLong();
        AtomicLong c2 = new AtomicLong();
        Throughput often = new Throughput(0, 3.0, c1::get);
        Throughput rarely = new Throughput(0, 3.0, c2::get);
        for (int i = 1; i <= 100; i++) {
            c1.addAndGet(S / 10);
            often.add(50); // 500/s
        }
        c2.addAndGet(10 * S);
        rarely.add(5000);
        assertThat(often.rate()).isCloseTo(500, within(1e-6));
        assertThat(rarely.rate()).isCloseTo(500, within(1e-6));
    }

    @Test
    void oldSpeedFadesWithTimeConstant() {
        AtomicLong clock = new AtomicLong();
        Throughput t = new Throughput(0, 1.0, clock::get);
        clock.addAndGet(S);
        t.add(100); // 100/s
        for (int i = 0; i < 100; i++) {
            clock.addAndGet(S / 10);
            t.add(1000); // 10000/s for 10 s = 10 tau
        }
        assertThat(t.rate()).isCloseTo(10000, within(10000 * 1e-4));
    }

    @Test
    void observationsWithoutElapsedTimeAreCreditedToTheNextInterval() {
        AtomicLong clock = new AtomicLong();
        Throughput t = new Throughput(100, 10.0, clock::get);
        t.add(50); // no time has passed
        assertThat(t.rate()).isNaN();
        assertThat(t.count()).isEqualTo(150);
        clock.addAndGet(S / 2);
        t.add(50);
        assertThat(t.rate()).isEqualTo(200.0); // (50 + 50) / 0.5 s, counted from the initial 100
        assertThat(t.countSinceStart()).isEqualTo(100);
    }

    @Test
    void rejectsBadInput() {
        AtomicLong clock = new AtomicLong();
        Throughput t = new Throughput(10, 1.0, clock::get);
        assertThatThrownBy(() -> t.update(9))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("went backwards");
        assertThatThrownBy(() -> t.add(-1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Throughput(0, 0, clock::get)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Throughput(0, Double.NaN, clock::get))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
