package fulgur.serve.http;

import fulgur.serve.Engine;
import fulgur.serve.EngineStats;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.expositionformats.PrometheusTextFormatWriter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.function.ToDoubleFunction;

/**
 * The server's Prometheus metrics: requests by endpoint and status, tokens in and out, the engine's queue, batch and
 * memory (read from {@link EngineStats} once per scrape), and latency histograms measured here from the token sinks'
 * callbacks (time to first token, time between tokens, whole request).
 */
final class ServerMetrics {
    private final PrometheusRegistry registry = new PrometheusRegistry();
    private final PrometheusTextFormatWriter writer = PrometheusTextFormatWriter.create();
    private final Engine engine;
    private volatile EngineStats stats;

    private final Counter requests;
    private final Counter promptTokens;
    private final Counter generationTokens;
    private final Gauge activeStreams;
    private final Histogram timeToFirstToken;
    private final Histogram interTokenLatency;
    private final Histogram requestDuration;

    ServerMetrics(Engine engine) {
        this.engine = engine;
        this.stats = engine.stats();
        requests = Counter.builder()
                .name("fulgur_http_requests")
                .help("HTTP requests by endpoint and status code")
                .labelNames("endpoint", "status")
                .register(registry);
        promptTokens = Counter.builder()
                .name("fulgur_prompt_tokens")
                .help("Prompt tokens of finished generations")
                .register(registry);
        generationTokens = Counter.builder()
                .name("fulgur_generation_tokens")
                .help("Tokens generated")
                .register(registry);
        activeStreams = Gauge.builder()
                .name("fulgur_active_streams")
                .help("Generations (choices) admitted by the server and not finished")
                .register(registry);
        timeToFirstToken = Histogram.builder()
                .name("fulgur_time_to_first_token_seconds")
                .help("From submission to the first generated token")
                .unit(Unit.SECONDS)
                .classicOnly()
                .classicUpperBounds(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
                .register(registry);
        interTokenLatency = Histogram.builder()
                .name("fulgur_inter_token_latency_seconds")
                .help("Time between consecutive tokens of a generation")
                .unit(Unit.SECONDS)
                .classicOnly()
                .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
                .register(registry);
        requestDuration = Histogram.builder()
                .name("fulgur_generation_duration_seconds")
                .help("From submission to the last token of a generation")
                .unit(Unit.SECONDS)
                .classicOnly()
                .classicUpperBounds(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
                .register(registry);
        gauge("fulgur_engine_running", "Sequences in the engine's running batch", s -> s.running());
        gauge("fulgur_engine_queued", "Requests waiting for admission", s -> s.queued());
        gauge(
                "fulgur_engine_state_memory_bytes",
                "Bytes of recurrent state held by running sequences",
                s -> s.stateBytes());
        gauge(
                "fulgur_engine_kv_cache_memory_bytes",
                "Bytes of KV cache held by softmax-attention layers",
                s -> s.kvBytes());
        gauge("fulgur_engine_prefix_cache_memory_bytes", "Bytes held by the prefix state cache", s -> s.cacheBytes());
        counter("fulgur_engine_requests", "Requests the engine finished, for any reason", s -> s.requests());
        counter("fulgur_engine_prompt_tokens", "Prompt tokens of engine requests", s -> s.promptTokens());
        counter(
                "fulgur_engine_cached_prompt_tokens",
                "Prompt tokens served from the prefix state cache",
                s -> s.cachedPromptTokens());
        counter("fulgur_engine_generation_tokens", "Tokens the engine generated", s -> s.completionTokens());
        counter("fulgur_engine_steps", "Engine steps (one batched forward each)", s -> s.steps());
    }

    private void gauge(String name, String help, ToDoubleFunction<EngineStats> f) {
        GaugeWithCallback.builder()
                .name(name)
                .help(help)
                .callback(cb -> cb.call(f.applyAsDouble(stats)))
                .register(registry);
    }

    private void counter(String name, String help, ToDoubleFunction<EngineStats> f) {
        CounterWithCallback.builder()
                .name(name)
                .help(help)
                .callback(cb -> cb.call(f.applyAsDouble(stats)))
                .register(registry);
    }

    void request(String endpoint, int status) {
        requests.labelValues(endpoint, Integer.toString(status)).inc();
    }

    void streams(int delta) {
        activeStreams.inc(delta);
    }

    void firstToken(long nanos) {
        timeToFirstToken.observe(nanos / 1e9);
    }

    void nextToken(long nanos) {
        interTokenLatency.observe(nanos / 1e9);
    }

    void finished(long nanos, int prompt, int completion) {
        requestDuration.observe(nanos / 1e9);
        promptTokens.inc(prompt);
        generationTokens.inc(completion);
    }

    String contentType() {
        return writer.getContentType();
    }

    /** The text exposition of every metric, with the engine's gauges read once. */
    synchronized byte[] scrape() {
        stats = engine.stats();
        ByteArrayOutputStream out = new ByteArrayOutputStream(8192);
        try {
            writer.write(out, registry.scrape());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
