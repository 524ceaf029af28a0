package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.serve.FinishReason;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** /metrics is valid Prometheus text and counts what happened. */
class MetricsTest {

    @Test
    void exposesRequestsTokensEngineStateAndLatencies() throws Exception {
        ScriptedEngine engine = new ScriptedEngine(List.of("a", "b", "c", "d"), FinishReason.STOP);
        try (OpenAiServer server = new OpenAiServer(
                        engine, ChatTemplate.plain(), ServerOptions.defaults().withPort(0))
                .start()) {
            Http http = new Http(server.uri());
            assertThat(http.post("/v1/completions", "{\"model\":\"test-model\",\"prompt\":\"hello\",\"n\":2}")
                            .status())
                    .isEqualTo(200);
            assertThat(http.post(
                                    "/v1/chat/completions",
                                    "{\"model\":\"test-model\",\"stream\":true,\"max_tokens\":3,"
                                            + "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
                            .status())
                    .isEqualTo(200);
            assertThat(http.post("/v1/completions", "{\"model\":\"test-model\"}")
                            .status())
                    .isEqualTo(400);
            Http.Reply r = http.get("/metrics");
            assertThat(r.status()).isEqualTo(200);
            assertThat(r.header("content-type")).startsWith("text/plain; version=0.0.4");
            PrometheusText p = PrometheusText.parse(r.body());

            assertThat(p.value("fulgur_http_requests_total", Map.of("endpoint", "/v1/completions", "status", "200")))
                    .isEqualTo(1);
            assertThat(p.value("fulgur_http_requests_total", Map.of("endpoint", "/v1/completions", "status", "400")))
                    .isEqualTo(1);
            assertThat(p.value(
                            "fulgur_http_requests_total", Map.of("endpoint", "/v1/chat/completions", "status", "200")))
                    .isEqualTo(1);
            // 2 choices x 4 tokens + 3 tokens; prompts: "hello" twice, "user: hi\nassistant:" once
            assertThat(p.value("fulgur_generation_tokens_total")).isEqualTo(11);
            assertThat(p.value("fulgur_prompt_tokens_total")).isEqualTo(5 + 5 + 19);
            assertThat(p.value("fulgur_time_to_first_token_seconds_count")).isEqualTo(3);
            assertThat(p.value("fulgur_inter_token_latency_seconds_count")).isEqualTo(11 - 3);
            assertThat(p.value("fulgur_generation_duration_seconds_count")).isEqualTo(3);
            assertThat(p.value("fulgur_time_to_first_token_seconds_sum")).isPositive();
            assertThat(p.value("fulgur_active_streams")).isZero();
            assertThat(p.types)
                    .containsEntry("fulgur_time_to_first_token_seconds", "histogram")
                    .containsEntry("fulgur_engine_queued", "gauge")
                    .containsEntry("fulgur_engine_running", "gauge")
                    .containsEntry("fulgur_engine_state_memory_bytes", "gauge")
                    .containsEntry("fulgur_engine_kv_cache_memory_bytes", "gauge");
            assertThat(p.value("fulgur_engine_requests_total")).isEqualTo(3); // the scripted engine counts its handles
        } finally {
            engine.close();
        }
    }

    @Test
    void theReaderRefusesWhatIsNotPrometheusText() {
        assertThatThrownBy(() -> PrometheusText.parse("# TYPE a counter\na_total{x=\"1\" 2\n"))
                .hasMessageContaining("not a valid line");
        assertThatThrownBy(() -> PrometheusText.parse("b 1\n")).hasMessageContaining("undeclared");
        assertThatThrownBy(() -> PrometheusText.parse(
                        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n"))
                .hasMessageContaining("cumulative");
        assertThatThrownBy(() -> PrometheusText.parse(
                        "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3\nh_sum 1\n"))
                .hasMessageContaining("equal _count");
        assertThat(PrometheusText.parse("# HELP g a gauge\n# TYPE g gauge\ng{a=\"x\\\"y\"} 1.5e3\n")
                        .value("g", Map.of("a", "x\\\"y")))
                .isEqualTo(1500);
    }
}
