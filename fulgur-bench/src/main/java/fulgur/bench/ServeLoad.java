package fulgur.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import fulgur.generate.Generator;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.engine.Engines;
import fulgur.serve.http.ChatTemplate;
import fulgur.serve.http.OpenAiServer;
import fulgur.serve.http.ServerOptions;
import fulgur.tensor.DType;
import fulgur.tokenizer.ByteTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Load on the HTTP server: N concurrent streaming clients (java.net.http, localhost only, a bounded number of requests
 * and a time limit per level) against a server started here in front of a small TNL, beside the sequential peer of
 * the same run: one {@link Generator} stream generating the same requests one after another. Per concurrency level:
 * throughput (tokens/s) and its ratio to the peer, time to first token and inter-token latency (p50/p99), failed
 * requests, and the process heap and engine state memory at their peak. Rounds alternate peer and levels.
 */
public final class ServeLoad {

    /**
     * @param dim model width; {@code layers} and 4 heads, byte vocabulary
     * @param maxTokens tokens per request
     * @param minRequests requests per level at least (a level of c clients sends max(minRequests, 4c)); the peer
     *     generates at least as many, and for at least {@code peerSeconds}
     * @param levels concurrency levels
     * @param rounds alternating rounds of peer and levels
     * @param levelLimit a level still running after this counts its unfinished requests as failed
     * @param warmup time spent on both paths before the first timed round
     */
    public record Config(int dim, int layers, int maxTokens, int minRequests, List<Integer> levels, int rounds, Duration levelLimit,
            Duration warmup, Duration peerSeconds) {
        public static Config defaults() {
            return new Config(128, 2, 32, 48, List.of(1, 8, 64), 3, Duration.ofSeconds(120), Duration.ofSeconds(10), Duration.ofSeconds(2));
        }
    }

    static final String PROMPT = "To be, or not to be, that is the question:";
    private static final ObjectMapper JSON = new ObjectMapper();

    private ServeLoad() {}

    static List<BenchResult> run() {
        return run(Config.defaults());
    }

    public static List<BenchResult> run(Config c) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("fulgur-serve-bench");
            Path model = dir.resolve("tnl-" + c.dim() + "x" + c.layers());
            Architecture tnl = Architectures.byName("tnl");
            try (LanguageModel m = tnl.build(tnl.smallConfig(257, c.dim(), c.layers(), 4), 1)) {
                ReferenceCheckpoint.save(m, model, DType.F32, Long.MAX_VALUE);
            }
            return measure(model, c);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            deleteQuietly(dir);
        }
    }

    private static List<BenchResult> measure(Path model, Config c) throws IOException, InterruptedException {
        List<BenchResult> out = new ArrayList<>();
        try (LanguageModel peerModel = ReferenceCheckpoint.load(model);
                Engine engine = Engines.load(model, "cpu", EngineOptions.defaults());
                OpenAiServer server = new OpenAiServer(engine, ChatTemplate.plain(), ServerOptions.defaults().withPort(0)).start();
                HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).connectTimeout(Duration.ofSeconds(10)).build()) {
            String name = server.modelName();
            // warm-up: both paths compiled (the JIT settled) before anything is timed
            long warmEnd = System.nanoTime() + c.warmup().toNanos();
            do {
                peer(peerModel, c, 4, Duration.ZERO);
                level(client, server, engine, name, c, 4, 8);
            } while (System.nanoTime() < warmEnd);
            for (int round = 1; round <= c.rounds(); round++) {
                double[] peer = peer(peerModel, c, c.minRequests(), c.peerSeconds());
                double peerRate = peer[0];
                out.add(new BenchResult("serve", "generator_tokens_per_s", peerRate, "tokens/s", Machine.describe(extra(
                        "round", round, "requests", (int) peer[1], "max_tokens", c.maxTokens(), "model", name, "peer", "one Generator stream, sequential"))));
                for (int clients : c.levels()) {
                    int requests = Math.max(c.minRequests(), 4 * clients);
                    Level l = level(client, server, engine, name, c, clients, requests);
                    out.add(new BenchResult("serve", "c" + clients + "_tokens_per_s", l.tokensPerSecond(), "tokens/s", Machine.describe(extra(
                            "round", round, "concurrency", clients, "requests", requests, "tokens", l.tokens, "failed", l.failed,
                            "ratio_to_generator", l.tokensPerSecond() / peerRate,
                            "ttft_p50_ms", l.ttft.percentile(50), "ttft_p99_ms", l.ttft.percentile(99),
                            "itl_p50_ms", l.itl.percentile(50), "itl_p99_ms", l.itl.percentile(99),
                            "heap_base_mib", l.heapBase / 1048576.0, "heap_peak_mib", l.heapPeak / 1048576.0,
                            "engine_state_peak_bytes", l.statePeak, "max_tokens", c.maxTokens(), "model", name))));
                    out.add(new BenchResult("serve", "c" + clients + "_failed", l.failed, "requests", extra("round", round, "concurrency", clients)));
                }
            }
        }
        return out;
    }

    /**
     * One Generator stream generating the benchmark's requests one after another, at least {@code minRequests} and for
     * at least {@code minTime}: {tokens per second, requests}.
     */
    private static double[] peer(LanguageModel model, Config c, int minRequests, Duration minTime) {
        ByteTokenizer tok = ByteTokenizer.withEndOfText();
        long tokens = 0;
        int i = 0;
        long t0 = System.nanoTime();
        long end = t0 + minTime.toNanos();
        for (; i < minRequests || System.nanoTime() < end; i++) {
            tokens += Generator.generate(model, tok, PROMPT, new Generator.Settings(c.maxTokens(), 0.8, 0, 1, i, List.of()), null).tokens();
        }
        return new double[] {tokens / ((System.nanoTime() - t0) / 1e9), i};
    }

    private static final class Level {
        final Samples ttft = new Samples();
        final Samples itl = new Samples();
        long tokens;
        int failed;
        double seconds;
        long heapBase;
        long heapPeak;
        long statePeak;

        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    private static Level level(HttpClient client, OpenAiServer server, Engine engine, String model, Config c, int clients, int requests)
            throws InterruptedException {
        Level l = new Level();
        System.gc();
        var heap = ManagementFactory.getMemoryMXBean();
        l.heapBase = heap.getHeapMemoryUsage().getUsed();
        AtomicBoolean sampling = new AtomicBoolean(true);
        AtomicLong heapPeak = new AtomicLong(l.heapBase);
        AtomicLong statePeak = new AtomicLong();
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (sampling.get()) {
                heapPeak.accumulateAndGet(heap.getHeapMemoryUsage().getUsed(), Math::max);
                var s = engine.stats();
                statePeak.accumulateAndGet(s.stateBytes() + s.kvBytes(), Math::max);
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
        AtomicLong next = new AtomicLong();
        List<Result> results = Collections.synchronizedList(new ArrayList<>());
        long deadline = System.nanoTime() + c.levelLimit().toNanos();
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int k = 0; k < clients; k++) {
                fs.add(pool.submit(() -> {
                    for (long i; (i = next.getAndIncrement()) < requests && System.nanoTime() < deadline; ) {
                        results.add(request(client, server.uri(), model, c.maxTokens(), i, deadline));
                    }
                }));
            }
            pool.shutdown();
            if (!pool.awaitTermination(c.levelLimit().toMillis() + 30_000, TimeUnit.MILLISECONDS)) {
                fs.forEach(f -> f.cancel(true));
            }
        }
        l.seconds = (System.nanoTime() - t0) / 1e9;
        sampling.set(false);
        sampler.join();
        l.heapPeak = heapPeak.get();
        l.statePeak = statePeak.get();
        l.failed = requests - results.size();
        for (Result r : results) {
            if (r.ok) {
                l.tokens += r.tokens;
                if (r.ttftMs >= 0) {
                    l.ttft.add(r.ttftMs);
                }
                r.itlMs.forEach(l.itl::add);
            } else {
                l.failed++;
            }
        }
        return l;
    }

    private record Result(boolean ok, long tokens, double ttftMs, List<Double> itlMs) {}

    /** One streaming completion; ok only with status 200, every chunk well-formed, no error, usage and [DONE] at the end. */
    private static Result request(HttpClient client, URI base, String model, int maxTokens, long seed, long deadline) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("prompt", PROMPT);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0.8);
        body.put("seed", seed);
        body.put("stream", true);
        body.put("stream_options", Map.of("include_usage", true));
        long remaining = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
        try {
            HttpRequest req = HttpRequest.newBuilder(base.resolve("/v1/completions")).timeout(Duration.ofMillis(remaining))
                    .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body))).build();
            long t0 = System.nanoTime();
            HttpResponse<Stream<String>> r = client.send(req, HttpResponse.BodyHandlers.ofLines());
            if (r.statusCode() != 200) {
                r.body().close();
                return new Result(false, 0, 0, List.of());
            }
            long first = 0;
            long last = 0;
            long tokens = -1;
            boolean done = false;
            List<Double> itl = new ArrayList<>();
            try (Stream<String> lines = r.body()) {
                for (String line : (Iterable<String>) lines::iterator) {
                    if (!line.startsWith("data: ")) {
                        continue;
                    }
                    String data = line.substring(6);
                    if (data.equals("[DONE]")) {
                        done = true;
                        continue;
                    }
                    JsonNode chunk = JSON.readTree(data);
                    if (chunk.has("error")) {
                        return new Result(false, 0, 0, List.of());
                    }
                    if (chunk.hasNonNull("usage")) {
                        tokens = chunk.get("usage").get("completion_tokens").asLong();
                    }
                    if (!chunk.path("choices").path(0).path("text").asText("").isEmpty()) {
                        long now = System.nanoTime();
                        if (first == 0) {
                            first = now;
                        } else {
                            itl.add((now - last) / 1e6);
                        }
                        last = now;
                    }
                }
            }
            // a completion may be empty (the end-of-text token first): it has no first token to time
            return new Result(done && tokens >= 0, tokens, first == 0 ? -1 : (first - t0) / 1e6, itl);
        } catch (IOException e) {
            return new Result(false, 0, 0, List.of());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return new Result(false, 0, 0, List.of());
        }
    }

    /** Values whose percentiles are wanted. */
    static final class Samples {
        private final List<Double> values = Collections.synchronizedList(new ArrayList<>());

        void add(double v) {
            values.add(v);
        }

        /** The nearest-rank percentile (NaN when empty). */
        double percentile(double p) {
            double[] v;
            synchronized (values) {
                v = values.stream().mapToDouble(Double::doubleValue).toArray();
            }
            if (v.length == 0) {
                return Double.NaN;
            }
            Arrays.sort(v);
            int rank = (int) Math.ceil(p / 100 * v.length);
            return v[Math.max(0, Math.min(v.length - 1, rank - 1))];
        }
    }

    private static Map<String, Object> extra(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put((String) kv[i], kv[i + 1]);
        }
        return m;
    }

    private static void deleteQuietly(Path dir) {
        if (dir == null) {
            return;
        }
        try (var walk = Files.walk(dir)) {
            walk.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // a temporary directory; the OS cleans it eventually
        }
    }

    /** {@code java -cp benchmarks.jar fulgur.bench.ServeLoad} prints one JSON line per result. */
    public static void main(String[] args) {
        for (BenchResult r : run()) {
            System.out.println(r.toJson());
        }
    }
}
