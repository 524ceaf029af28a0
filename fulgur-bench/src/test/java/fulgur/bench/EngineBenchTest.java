package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine benchmark's whole flow on a tiny TNL on the CPU: every figure is there and consistent. */
class EngineBenchTest {

    @Test
    void aTinyRunReportsEveryFigure() throws Exception {
        List<BenchResult> rs = EngineBench.run("--dim", "32", "--layers", "2", "--heads", "2", "--clients", "6", "--tokens", "8", "--prompt", "12",
                "--rounds", "1", "--long", "2048", "--shared", "1100");
        assertThat(rs).extracting(BenchResult::metric).containsExactly("same_tokens_as_eager", "unbatched_tokens_per_s", "engine_tokens_per_s",
                "tnl_state_bytes", "tnl_kv_bytes",
                "tnl_prefill_seconds", "tnl_state_bytes", "tnl_kv_bytes", "tnl_prefill_seconds", "ttft_without_cache_ms", "ttft_with_cache_ms", "ttft_cold_ms",
                "llama_state_bytes", "llama_kv_bytes", "llama_prefill_seconds", "llama_state_bytes", "llama_kv_bytes", "llama_prefill_seconds");
        assertThat(rs.get(0).value()).as("requests with the eager round's first tokens").isEqualTo(6);
        BenchResult engine = rs.get(2);
        assertThat(engine.value()).isPositive();
        // 2 layers × 2 heads × 16 × 16 f32 per sequence, 6 sequences running together
        assertThat(engine.extra()).containsEntry("failed", 0).containsEntry("clients", 6).containsEntry("state_bytes_per_sequence", 2L * 2 * 16 * 16 * 4)
                .containsEntry("state_bytes", 6L * 2 * 2 * 16 * 16 * 4);
        assertThat((long) engine.extra().get("tokens")).isBetween(6L, 48L);
        assertThat((double) engine.extra().get("decode_tokens_per_s")).isPositive();
        assertThat((double) engine.extra().get("ttft_p99_ms")).isGreaterThanOrEqualTo((double) engine.extra().get("ttft_p50_ms"));
        assertThat((double) engine.extra().get("itl_p99_ms")).isGreaterThanOrEqualTo((double) engine.extra().get("itl_p50_ms"));
        // a TNL's state does not grow with the prompt; a Llama's keys and values do
        assertThat(rs.get(3).value()).isEqualTo(rs.get(6).value()).isEqualTo(2.0 * 2 * 16 * 16 * 4);
        assertThat(rs.get(16).value()).isGreaterThan(rs.get(13).value());
        assertThat(rs.get(10).extra()).containsEntry("cached_prompt_tokens", 1100L);
    }

    @Test
    void badOptionsAreNamed() {
        assertThatThrownBy(() -> EngineBench.run("--clients")).hasMessage("option --clients needs a value");
        assertThatThrownBy(() -> EngineBench.run("--batch", "3")).hasMessageStartingWith("unknown option --batch");
        assertThatThrownBy(() -> EngineBench.run("--config", "7b")).hasMessage("--config is small or 385m, got 7b");
        assertThatThrownBy(() -> EngineBench.run("--only", "speed")).hasMessage("--only takes throughput, memory, ttft; got speed");
        assertThatThrownBy(() -> EngineBench.run("--tokens", "many")).hasMessage("--tokens takes an integer, got many");
    }
}
