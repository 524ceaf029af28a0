package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class ServeLoadTest {

    @Test
    void aSmallLoadRunsWithoutFailuresAndReportsEveryFigure() {
        List<BenchResult> rs = ServeLoad.run(new ServeLoad.Config(
                16, 1, 4, 4, 3, List.of(1, 3), 1, Duration.ofSeconds(60), Duration.ZERO, Duration.ZERO, true));
        assertThat(rs)
                .extracting(BenchResult::metric)
                .containsExactly(
                        "generator_tokens_per_s", "c1_tokens_per_s", "c1_failed", "c3_tokens_per_s", "c3_failed");
        assertThat(rs)
                .filteredOn(r -> r.metric().endsWith("_failed"))
                .allSatisfy(r -> assertThat(r.value()).isZero());
        BenchResult c3 = rs.get(3);
        assertThat(c3.value()).isPositive();
        assertThat(c3.extra())
                .containsEntry("concurrency", 3)
                .containsEntry("requests", 12)
                .containsEntry("failed", 0)
                .containsKeys(
                        "ttft_p50_ms",
                        "ttft_p99_ms",
                        "itl_p50_ms",
                        "itl_p99_ms",
                        "heap_peak_mib",
                        "ratio_to_generator",
                        "alloc_kib_per_token",
                        "heap_after_gc_peak_mib",
                        "cpu_cores",
                        "parameters");
        // a step advances at most the 3 running requests, each by its first token (prefill) and one decoded token
        assertThat((double) c3.extra().get("tokens_per_step")).isPositive().isLessThanOrEqualTo(6.0);
        assertThat((double) c3.extra().get("cpu_cores")).isPositive();
        assertThat((double) c3.extra().get("heap_after_gc_peak_mib")).isPositive();
        // every request sends the same prompt: after the first, the engine resumes from its cached state
        assertThat(c3.extra()).containsEntry("prefix_cache", true);
        assertThat((double) c3.extra().get("cached_prompt_fraction")).isGreaterThan(0.5);
        // 12 requests of at most 4 tokens each
        assertThat((long) c3.extra().get("tokens")).isBetween(12L, 48L);
        assertThat((double) c3.extra().get("ttft_p99_ms"))
                .isGreaterThanOrEqualTo((double) c3.extra().get("ttft_p50_ms"));
    }

    @Test
    void withoutThePrefixCacheEveryPromptIsPrefilled() {
        ServeLoad.Config c = new ServeLoad.Config(
                16, 1, 4, 2, 3, List.of(2), 1, Duration.ofSeconds(60), Duration.ZERO, Duration.ZERO, false);
        BenchResult c2 = ServeLoad.run(c).get(1);
        assertThat(c2.metric()).isEqualTo("c2_tokens_per_s");
        assertThat(c2.extra())
                .containsEntry("prefix_cache", false)
                .containsEntry("cached_prompt_fraction", 0.0)
                .containsEntry("failed", 0);
    }

    @Test
    void settingsOutsideTheirRangeAreRefusedNamingThem() {
        ServeLoad.Config d = ServeLoad.Config.defaults();
        assertThat(d.withModel(512, 4, 8)
                        .withLevels(List.of(2, 4))
                        .withRounds(2)
                        .withMaxTokens(8)
                        .withRequests(10))
                .isEqualTo(new ServeLoad.Config(
                        512, 4, 8, 8, 10, List.of(2, 4), 2, d.levelLimit(), d.warmup(), d.peerSeconds(), true));
        assertThat(d.withPrefixCache(false).prefixCache()).isFalse();
        assertThat(ServeLoad.engineOptions(d.withPrefixCache(false)).stateCacheBytes())
                .isZero();
        assertThat(ServeLoad.engineOptions(d).stateCacheBytes())
                .isEqualTo(fulgur.serve.EngineOptions.defaults().stateCacheBytes());
        assertThatThrownBy(() -> d.withModel(100, 2, 8))
                .hasMessage("serve benchmark: the width (100) must be a multiple of the heads (8)");
        assertThatThrownBy(() -> d.withModel(0, 2, 4))
                .hasMessageContaining("width, layers and heads must be positive, got 0, 2 and 4");
        assertThatThrownBy(() -> d.withLevels(List.of())).hasMessageContaining("at least one concurrency level");
        assertThatThrownBy(() -> d.withLevels(List.of(8, 257)))
                .hasMessageContaining("concurrency levels must be in [1, 256], got 257");
        assertThatThrownBy(() -> d.withRounds(0)).hasMessageContaining("rounds must be positive, got 0");
        assertThatThrownBy(() -> d.withMaxTokens(0)).hasMessageContaining("max tokens must be in [1, 4096], got 0");
        assertThatThrownBy(() -> d.withRequests(-1)).hasMessageContaining("requests must be positive, got -1");
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
