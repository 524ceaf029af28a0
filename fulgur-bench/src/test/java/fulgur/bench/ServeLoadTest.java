package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ServeLoadTest {

    @Test
    void aSmallLoadRunsWithoutFailuresAndReportsEveryFigure() {
        List<BenchResult> rs = ServeLoad.run(new ServeLoad.Config(16, 1, 4, 3, List.of(1, 3), 1, Duration.ofSeconds(60), Duration.ZERO, Duration.ZERO));
        assertThat(rs).extracting(BenchResult::metric)
                .containsExactly("generator_tokens_per_s", "c1_tokens_per_s", "c1_failed", "c3_tokens_per_s", "c3_failed");
        assertThat(rs).filteredOn(r -> r.metric().endsWith("_failed")).allSatisfy(r -> assertThat(r.value()).isZero());
        BenchResult c3 = rs.get(3);
        assertThat(c3.value()).isPositive();
        assertThat(c3.extra()).containsEntry("concurrency", 3).containsEntry("requests", 12).containsEntry("failed", 0)
                .containsKeys("ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms", "heap_peak_mib", "ratio_to_generator");
        // 12 requests of at most 4 tokens each
        assertThat((long) c3.extra().get("tokens")).isBetween(12L, 48L);
        assertThat((double) c3.extra().get("ttft_p99_ms")).isGreaterThanOrEqualTo((double) c3.extra().get("ttft_p50_ms"));
    }

    @Test
    void percentilesAreNearestRank() {
        ServeLoad.Samples s = new ServeLoad.Samples();
        for (int i = 1; i <= 100; i++) {
            s.add(i);
        }
        assertThat(s.percentile(50)).isEqualTo(50);
        assertThat(s.percentile(99)).isEqualTo(99);
        assertThat(new ServeLoad.Samples().percentile(50)).isNaN();
    }
}
