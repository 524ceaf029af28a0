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
import fulgur.serve.EngineStats;
import fulgur.serve.engine.Engines;
import fulgur.serve.http.ChatTemplate;
import fulgur.serve.http.OpenAiServer;
import fulgur.serve.http.ServerOptions;
import fulgur.tensor.DType;
import fulgur.tokenizer.ByteTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
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

/**
 * Load on the HTTP server: N concurrent streaming clients ({@link LoadClient}: a keep-alive HTTP/1.1 connection each,
 * on virtual threads, localhost only, a bounded number of requests and a time limit per level) against a server started
 * here in front of a TNL with random weights ({@link Config}: width, layers, heads), beside the sequential peer of the
 * same run: one {@link Generator} stream generating the same requests one after another. Per concurrency level:
 * throughput (tokens/s) and its ratio to the peer, time to first token and inter-token latency (p50/p99), failed
 * requests, the process heap and engine state memory at their peak, the bytes allocated per token, the CPU cores the
 * process used and the tokens per engine step. Rounds alternate peer and levels.
 */
public final class ServeLoad {

    /**
     * @param dim model width
     * @param layers model layers
     * @param heads attention heads (byte vocabulary)
     * @param maxTokens tokens per request
     * @param minRequests requests per level at least (a level of c clients sends max(minRequests, 4c)); the peer
     *     generates at least as many, and for at least {@code peerSeconds}
     * @param levels concurrency levels
     * @param rounds alternating rounds of peer and levels
     * @param levelLimit a level still running after this counts its unfinished requests as failed
     * @param warmup time spent on both paths before the first timed round (the peer, then every level with as many
     *     requests as clients, at least 8, again and again)
     * @param prefixCache whether the engine keeps prompt states ({@link EngineOptions#stateCacheBytes}): on, every request
     *     after the first resumes from the shared prompt's state; off, the engine prefills every prompt, as the peer does
     */
    public record Config(
            int dim,
            int layers,
            int heads,
            int maxTokens,
            int minRequests,
            List<Integer> levels,
            int rounds,
            Duration levelLimit,
            Duration warmup,
            Duration peerSeconds,
            boolean prefixCache) {
        /** Concurrency levels at most: the server's default limit of concurrent streams. */
        static final int MAX_LEVEL = ServerOptions.defaults().maxConcurrentStreams();

        public Config {
            List<String> p = new ArrayList<>();
            if (dim < 1 || layers < 1 || heads < 1) {
                p.add("width, layers and heads must be positive, got " + dim + ", " + layers + " and " + heads);
            } else if (dim % heads != 0) {
                p.add("the width (" + dim + ") must be a multiple of the heads (" + heads + ")");
            }
            if (maxTokens < 1 || maxTokens > EngineOptions.defaults().maxNewTokens()) {
                p.add("max tokens must be in [1, " + EngineOptions.defaults().maxNewTokens() + "], got " + maxTokens);
            }
            if (minRequests < 1) {
                p.add("requests must be positive, got " + minRequests);
            }
            if (levels == null || levels.isEmpty()) {
                p.add("at least one concurrency level is needed");
            } else {
                for (Integer c : levels) {
                    if (c == null || c < 1 || c > MAX_LEVEL) {
                        p.add("concurrency levels must be in [1, " + MAX_LEVEL + "], got " + c);
                        break;
                    }
                }
            }
            if (rounds < 1) {
                p.add("rounds must be positive, got " + rounds);
            }
            if (levelLimit == null
                    || !levelLimit.isPositive()
                    || warmup == null
                    || warmup.isNegative()
                    || peerSeconds == null
                    || peerSeconds.isNegative()) {
                p.add("the level limit must be positive, warm-up and peer time not negative");
            }
            if (!p.isEmpty()) {
                throw new IllegalArgumentException("serve benchmark: " + String.join("; ", p));
            }
            levels = List.copyOf(levels);
        }

        /** The tiny default model: TNL width 128, 2 layers, 4 heads; levels 1, 8, 64; 32 tokens per request; 3 rounds. */
        public static Config defaults() {
            return new Config(
                    128,
                    2,
                    4,
                    32,
                    48,
                    List.of(1, 8, 64),
                    3,
                    Duration.ofSeconds(120),
                    Duration.ofSeconds(10),
                    Duration.ofSeconds(2),
                    true);
        }

        public Config withModel(int width, int layerCount, int headCount) {
            return new Config(
                    width,
                    layerCount,
                    headCount,
                    maxTokens,
                    minRequests,
                    levels,
                    rounds,
                    levelLimit,
                    warmup,
                    peerSeconds,
                    prefixCache);
        }

        public Config withLevels(List<Integer> l) {
            return new Config(
                    dim,
                    layers,
                    heads,
                    maxTokens,
                    minRequests,
                    l,
                    rounds,
                    levelLimit,
                    warmup,
                    peerSeconds,
                    prefixCache);
        }

        public Config withRounds(int r) {
            return new Config(
                    dim,
                    layers,
                    heads,
                    maxTokens,
                    minRequests,
                    levels,
                    r,
                    levelLimit,
                    warmup,
                    peerSeconds,
                    prefixCache);
        }

        public Config withMaxTokens(int t) {
            return new Config(
                    dim, layers, heads, t, minRequests, levels, rounds, levelLimit, warmup, peerSeconds, prefixCache);
        }

        public Config withRequests(int r) {
            return new Config(
                    dim, layers, heads, maxTokens, r, levels, rounds, levelLimit, warmup, peerSeconds, prefixCache);
        }

        public Config withPrefixCache(boolean on) {
            return new Config(
                    dim, layers, heads, maxTokens, minRequests, levels, rounds, levelLimit, warmup, peerSeconds, on);
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
            try (LanguageModel m = tnl.build(tnl.smallConfig(257, c.dim(), c.layers(), c.heads()), 1)) {
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
                Engine engine = Engines.load(model, "cpu", engineOptions(c));
                OpenAiServer server = new OpenAiServer(
                                engine,
                                ChatTemplate.plain(),
                                ServerOptions.defaults().withPort(0))
                        .start()) {
            String name = server.modelName();
            long parameters = engine.model().parameters();
            // warm-up: both paths compiled (the JIT settled) before anything is timed, the engine at every level's
            // concurrency: its batch sizes and prefill shapes are those of the timed levels, not only a small one's
            long warmEnd = System.nanoTime() + c.warmup().toNanos();
            do {
                peer(peerModel, c, 4, Duration.ZERO);
                for (int clients : c.levels()) {
                    level(server, engine, name, c, clients, Math.max(8, clients));
                }
            } while (System.nanoTime() < warmEnd);
            for (int round = 1; round <= c.rounds(); round++) {
                double[] peer = peer(peerModel, c, c.minRequests(), c.peerSeconds());
                double peerRate = peer[0];
                out.add(new BenchResult(
                        "serve",
                        "generator_tokens_per_s",
                        peerRate,
                        "tokens/s",
                        Machine.describe(extra(
                                "round",
                                round,
                                "requests",
                                (int) peer[1],
                                "max_tokens",
                                c.maxTokens(),
                                "model",
                                name,
                                "parameters",
                                parameters,
                                "peer",
                                "one Generator stream, sequential"))));
                for (int clients : c.levels()) {
                    int requests = Math.max(c.minRequests(), 4 * clients);
                    Level l = level(server, engine, name, c, clients, requests);
                    out.add(new BenchResult(
                            "serve",
                            "c" + clients + "_tokens_per_s",
                            l.tokensPerSecond(),
                            "tokens/s",
                            Machine.describe(extra(
                                    "round",
                                    round,
                                    "concurrency",
                                    clients,
                                    "requests",
                                    requests,
                                    "tokens",
                                    l.tokens,
                                    "failed",
                                    l.failed,
                                    "ratio_to_generator",
                                    l.tokensPerSecond() / peerRate,
                                    "ttft_p50_ms",
                                    l.ttft.percentile(50),
                                    "ttft_p99_ms",
                                    l.ttft.percentile(99),
                                    "itl_p50_ms",
                                    l.itl.percentile(50),
                                    "itl_p99_ms",
                                    l.itl.percentile(99),
                                    "heap_base_mib",
                                    l.heapBase / 1048576.0,
                                    "heap_peak_mib",
                                    l.heapPeak / 1048576.0,
                                    "heap_after_gc_peak_mib",
                                    l.livePeak / 1048576.0,
                                    "alloc_kib_per_token",
                                    l.allocated / 1024.0 / Math.max(1, l.tokens),
                                    "cpu_cores",
                                    l.cpuSeconds / l.seconds,
                                    "tokens_per_step",
                                    l.engineTokens / (double) Math.max(1, l.engineSteps),
                                    "prefix_cache",
                                    c.prefixCache(),
                                    "cached_prompt_fraction",
                                    l.cachedPromptTokens / (double) Math.max(1, l.promptTokens),
                                    "engine_state_peak_bytes",
                                    l.statePeak,
                                    "max_tokens",
                                    c.maxTokens(),
                                    "model",
                                    name,
                                    "parameters",
                                    parameters))));
                    out.add(new BenchResult(
                            "serve",
                            "c" + clients + "_failed",
                            l.failed,
                            "requests",
                            extra("round", round, "concurrency", clients)));
                }
            }
        }
        return out;
    }

    /** The engine's default options, without the prefix state cache when the config turns it off. */
    static EngineOptions engineOptions(Config c) {
        EngineOptions o = EngineOptions.defaults();
        return c.prefixCache()
                ? o
                : new EngineOptions(
                        o.maxRunning(),
                        o.maxQueued(),
                        o.maxPromptTokens(),
                        o.maxNewTokens(),
                        o.memoryBudgetBytes(),
                        o.prefillChunkTokens(),
                        0,
                        o.stateCacheInterval(),
                        o.defaultTimeout(),
                        o.decodeGraphs());
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
            tokens += Generator.generate(
                            model, tok, PROMPT, new Generator.Settings(c.maxTokens(), 0.8, 0, 1, i, List.of()), null)
                    .tokens();
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
        /** The most the heap held right after a collection: what was live, the garbage between collections left out. */
        long livePeak;

        long statePeak;
        /** Bytes the whole process (server, engine and clients) allocated during the level. */
        long allocated;
        /** CPU time of the whole process during the level. */
        double cpuSeconds;
        /** Tokens the engine generated and the steps it took during the level. */
        long engineTokens;

        long engineSteps;
        /** Prompt tokens the engine took in during the level, and those its prefix state cache served. */
        long promptTokens;

        long cachedPromptTokens;

        double tokensPerSecond() {
            return tokens / seconds;
        }
    }

    private static Level level(OpenAiServer server, Engine engine, String model, Config c, int clients, int requests)
            throws InterruptedException {
        Level l = new Level();
        System.gc();
        var heap = ManagementFactory.getMemoryMXBean();
        l.heapBase = heap.getHeapMemoryUsage().getUsed();
        AtomicBoolean sampling = new AtomicBoolean(true);
        AtomicLong heapPeak = new AtomicLong(l.heapBase);
        AtomicLong livePeak = new AtomicLong(heapAfterCollection());
        AtomicLong statePeak = new AtomicLong();
        Thread sampler = Thread.ofPlatform().daemon().start(() -> {
            while (sampling.get()) {
                heapPeak.accumulateAndGet(heap.getHeapMemoryUsage().getUsed(), Math::max);
                livePeak.accumulateAndGet(heapAfterCollection(), Math::max);
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
        EngineStats before = engine.stats();
        long alloc0 = allocatedBytes();
        long cpu0 = processCpuNanos();
        long t0 = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> fs = new ArrayList<>();
            for (int k = 0; k < clients; k++) {
                fs.add(pool.submit(() -> {
                    try (LoadClient client = new LoadClient(server.uri())) {
                        for (long i; (i = next.getAndIncrement()) < requests && System.nanoTime() < deadline; ) {
                            results.add(request(client, model, c.maxTokens(), i, deadline));
                        }
                    }
                }));
            }
            pool.shutdown();
            if (!pool.awaitTermination(c.levelLimit().toMillis() + 30_000, TimeUnit.MILLISECONDS)) {
                fs.forEach(f -> f.cancel(true));
            }
        }
        l.seconds = (System.nanoTime() - t0) / 1e9;
        l.cpuSeconds = (processCpuNanos() - cpu0) / 1e9;
        l.allocated = allocatedBytes() - alloc0;
        EngineStats after = engine.stats();
        l.engineTokens = after.completionTokens() - before.completionTokens();
        l.engineSteps = after.steps() - before.steps();
        l.promptTokens = after.promptTokens() - before.promptTokens();
        l.cachedPromptTokens = after.cachedPromptTokens() - before.cachedPromptTokens();
        sampling.set(false);
        sampler.join();
        l.heapPeak = heapPeak.get();
        l.livePeak = livePeak.get();
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

    /** Heap bytes in use right after the latest collection of each heap pool. */
    private static long heapAfterCollection() {
        long n = 0;
        for (var pool : ManagementFactory.getMemoryPoolMXBeans()) {
            if (pool.getType() == java.lang.management.MemoryType.HEAP && pool.getCollectionUsage() != null) {
                n += pool.getCollectionUsage().getUsed();
            }
        }
        return n;
    }

    /** Heap bytes all threads allocated since the JVM started (-1 where the JVM does not count them). */
    private static long allocatedBytes() {
        return ManagementFactory.getThreadMXBean() instanceof com.sun.management.ThreadMXBean t
                        && t.isThreadAllocatedMemorySupported()
                        && t.isThreadAllocatedMemoryEnabled()
                ? t.getTotalThreadAllocatedBytes()
                : -1;
    }

    /** CPU time of this process (0 where the JVM does not report it). */
    private static long processCpuNanos() {
        return ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? Math.max(0, os.getProcessCpuTime())
                : 0;
    }

    private record Result(boolean ok, long tokens, double ttftMs, List<Double> itlMs) {}

    /** One streaming completion; ok only with status 200, every chunk well-formed, no error, usage and [DONE] at the end. */
    private static Result request(LoadClient client, String model, int maxTokens, long seed, long deadline) {
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("model", model);
        body.put("prompt", PROMPT);
        body.put("max_tokens", maxTokens);
        body.put("temperature", 0.8);
        body.put("seed", seed);
        body.put("stream", true);
        body.put("stream_options", Map.of("include_usage", true));
        int remaining = (int) Math.clamp((deadline - System.nanoTime()) / 1_000_000, 1, Integer.MAX_VALUE);
        Reply s = new Reply();
        try {
            s.t0 = System.nanoTime();
            int status = client.post("/v1/completions", JSON.writeValueAsBytes(body), remaining, s::line);
            // a completion may be empty (the end-of-text token first): it has no first token to time
            boolean ok = status == 200 && s.done && s.tokens >= 0 && !s.bad;
            return ok
                    ? new Result(true, s.tokens, s.first == 0 ? -1 : (s.first - s.t0) / 1e6, s.itl)
                    : new Result(false, 0, 0, List.of());
        } catch (IOException | RuntimeException e) {
            return new Result(false, 0, 0, List.of());
        }
    }

    /** What one streamed response has shown so far, line by line. */
    private static final class Reply {
        long t0;
        long first;
        long last;
        long tokens = -1;
        boolean done;
        /** A malformed chunk, an error event, or anything after [DONE]. */
        boolean bad;

        final List<Double> itl = new ArrayList<>();

        void line(String line) {
            if (!line.startsWith("data: ")) {
                return;
            }
            String data = line.substring(6);
            if (done) {
                bad = true;
                return;
            }
            if (data.equals("[DONE]")) {
                done = true;
                return;
            }
            JsonNode chunk;
            try {
                chunk = JSON.readTree(data);
            } catch (IOException e) {
                bad = true;
                return;
            }
            if (chunk == null || !chunk.isObject() || chunk.has("error")) {
                bad = true;
                return;
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
