package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.StringReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine benchmark's whole flow on a tiny TNL on the CPU: every figure is there and consistent, turns included. */
class EngineBenchTest {

    @Test
    void aTinyRunReportsEveryFigure() throws Exception {
        List<BenchResult> rs = EngineBench.run(
                "--dim",
                "32",
                "--layers",
                "2",
                "--heads",
                "2",
                "--clients",
                "6",
                "--tokens",
                "8",
                "--prompt",
                "12",
                "--rounds",
                "1",
                "--long",
                "2048",
                "--shared",
                "1100");
        assertThat(rs)
                .extracting(BenchResult::metric)
                .containsExactly(
                        "same_tokens_as_eager",
                        "unbatched_tokens_per_s",
                        "engine_tokens_per_s",
                        "tnl_state_bytes",
                        "tnl_kv_bytes",
                        "tnl_prefill_seconds",
                        "tnl_state_bytes",
                        "tnl_kv_bytes",
                        "tnl_prefill_seconds",
                        "ttft_without_cache_ms",
                        "ttft_with_cache_ms",
                        "ttft_cold_ms",
                        "llama_state_bytes",
                        "llama_kv_bytes",
                        "llama_prefill_seconds",
                        "llama_state_bytes",
                        "llama_kv_bytes",
                        "llama_prefill_seconds");
        assertThat(rs.get(0).value())
                .as("requests with the eager round's first tokens")
                .isEqualTo(6);
        BenchResult engine = rs.get(2);
        assertThat(engine.value()).isPositive();
        // 2 layers × 2 heads × 16 × 16 f32 per sequence; up to the 6 clients' sequences running together (on a loaded
        // machine the first can finish before the last is admitted)
        long perSequence = 2L * 2 * 16 * 16 * 4;
        assertThat(engine.extra())
                .containsEntry("failed", 0)
                .containsEntry("clients", 6)
                .containsEntry("state_bytes_per_sequence", perSequence);
        int together = ((Number) engine.extra().get("state_sequences")).intValue();
        assertThat(together).isBetween(1, 6);
        assertThat(((Number) engine.extra().get("state_bytes")).longValue()).isEqualTo(together * perSequence);
        assertThat((long) engine.extra().get("tokens")).isBetween(6L, 48L);
        assertThat((double) engine.extra().get("decode_tokens_per_s")).isPositive();
        assertThat((double) engine.extra().get("ttft_p99_ms"))
                .isGreaterThanOrEqualTo((double) engine.extra().get("ttft_p50_ms"));
        assertThat((double) engine.extra().get("itl_p99_ms"))
                .isGreaterThanOrEqualTo((double) engine.extra().get("itl_p50_ms"));
        // a TNL's state does not grow with the prompt; a Llama's keys and values do
        assertThat(rs.get(3).value()).isEqualTo(rs.get(6).value()).isEqualTo(2.0 * 2 * 16 * 16 * 4);
        assertThat(rs.get(16).value()).isGreaterThan(rs.get(13).value());
        assertThat(rs.get(10).extra()).containsEntry("cached_prompt_tokens", 1100L);
    }

    /**
     * Several client counts share one engine, each measured once per round; paced, the run waits for a turn before the
     * model, before each round of each count and before the memory figures, and stops where the turns stop.
     */
    @Test
    void pacedRoundsOfSeveralClientCountsStopWhenTheTurnsDo() throws Exception {
        ByteArrayOutputStream asked = new ByteArrayOutputStream();
        // turns: the model and warm-ups, round 1 with 1 client, round 1 with 3 clients, round 2 with 1 client; then
        // none
        Turns turns = new Turns(
                new BufferedReader(new StringReader("go\ngo\ngo\ngo\n")),
                new PrintStream(asked, true, StandardCharsets.UTF_8));
        List<BenchResult> rs = EngineBench.run(
                turns,
                "--dim",
                "32",
                "--layers",
                "2",
                "--heads",
                "2",
                "--clients",
                "1,3",
                "--tokens",
                "6",
                "--prompt",
                "5",
                "--rounds",
                "2",
                "--long",
                "2048",
                "--shared",
                "1100");
        assertThat(rs)
                .extracting(BenchResult::metric)
                .containsExactly(
                        "same_tokens_as_eager",
                        "unbatched_tokens_per_s",
                        "engine_tokens_per_s",
                        "engine_tokens_per_s",
                        "unbatched_tokens_per_s",
                        "engine_tokens_per_s");
        assertThat(rs.get(0).value())
                .as("requests with the eager round's first tokens")
                .isEqualTo(3);
        assertThat(rs)
                .filteredOn(r -> r.metric().equals("engine_tokens_per_s"))
                .extracting(r -> r.extra().get("clients"))
                .containsExactly(1, 3, 1);
        assertThat(rs)
                .filteredOn(r -> r.metric().equals("engine_tokens_per_s"))
                .extracting(r -> r.extra().get("round"))
                .containsExactly(1, 1, 2);
        assertThat(rs)
                .filteredOn(r -> r.metric().equals("engine_tokens_per_s"))
                .extracting(r -> r.extra().get("tokens"))
                .containsExactly(6L, 18L, 6L);
        assertThat(asked.toString(StandardCharsets.UTF_8)).isEqualTo("ready\n".repeat(5));
    }

    @Test
    void badOptionsAreNamed() {
        assertThatThrownBy(() -> EngineBench.run("--clients")).hasMessage("option --clients needs a value");
        assertThatThrownBy(() -> EngineBench.run("--batch", "3")).hasMessageStartingWith("unknown option --batch");
        assertThatThrownBy(() -> EngineBench.run("--config", "7b")).hasMessage("--config is small or 385m, got 7b");
        assertThatThrownBy(() -> EngineBench.run("--only", "speed"))
                .hasMessage("--only takes throughput, memory, ttft; got speed");
        assertThatThrownBy(() -> EngineBench.run("--tokens", "many")).hasMessage("--tokens takes an integer, got many");
        assertThatThrownBy(() -> EngineBench.run("--clients", "1,x"))
                .hasMessage("--clients takes counts separated by commas (e.g. 1,16,64), got 1,x");
        assertThatThrownBy(() -> EngineBench.run("--clients", "4,0"))
                .hasMessage("--clients takes counts of at least 1, got 4,0");
    }
}
