package fulgur.bench;

import fulgur.backend.Backends;
import fulgur.backend.DeviceRuntime;
import fulgur.generate.Generator;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.ops.RandomFill;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.EngineStats;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import fulgur.serve.engine.Engines;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The continuous-batching engine in this JVM, on a TNL with random weights (speed and memory do not depend on them):
 * <ol>
 *   <li>throughput of N concurrent greedy requests for each N of {@code --clients} (one engine whose pool holds the
 *       most), and of one unbatched {@link Generator} stream on the same model, in alternating rounds: aggregate
 *       tokens/s (first submission to last finish, prefill included), decode tokens/s (tokens after the last first
 *       token, over the time from it to the last finish), time to first token and
 *       inter-token latency (p50/p99), failed requests, the state the running sequences hold and the device's peak
 *       memory; on a GPU, the kernels one eager batched round launched (each with launches and device time); and
 *       whether the engine that records its decode step as a graph gives each request the eager round's first tokens;</li>
 *   <li>the memory a sequence holds after a 1K-token and a long prompt (TNL: a fixed-size state; for the small
 *       config also a Llama of the same width, whose keys and values grow with the context, at 1K and 4K);</li>
 *   <li>time to first token of a repeated shared prompt with and without the prefix state cache.</li>
 * </ol>
 * {@code --config 385m} is TransNormerLLM-385M (width 1024, 24 layers, 8 heads, GLU 2816, vocabulary 64 000): its
 * weights are made as zeros on the host and drawn from N(0, 0.02²) on the device ({@link RandomFill}), and its
 * tokenizer is the byte tokenizer with a special token for every id above 255 (no end of text: every request runs to
 * its maxTokens). Prints one JSON line per figure as it is measured ({@link BenchResult}) and a summary on stderr.
 * {@code --paced} waits for a turn (a line on standard input) before the model is built, before each round of each
 * client count and before the memory and first-token figures, and prints {@code ready} when it waits ({@link Turns}):
 * a coordinator alternates it with a peer on the same GPU.
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp fulgur-bench/target/benchmarks.jar \
 *     fulgur.bench.EngineBench [--config small|385m] [--dim 256] [--layers 4] [--heads 4] [--dtype f32|bf16]
 *     [--device cpu|cuda] [--clients 32 | 1,16,64,256] [--tokens 128] [--prompt 32] [--rounds 3] [--long 32768]
 *     [--shared 4096] [--graphs 4] [--only throughput,memory,ttft] [--paced]
 * </pre>
 */
public final class EngineBench {
    private final Map<String, Integer> ints = new LinkedHashMap<>(Map.of(
            "dim", 256, "layers", 4, "heads", 4, "tokens", 128, "rounds", 3, "long", 32768, "shared", 4096, "prompt",
            32, "graphs", 4));
    private int[] clients = {32};
    private Turns turns = Turns.unpaced();
    private String device = "cpu";
    private String config = "small";
    private DType dtype = DType.F32;
    private List<String> parts = List.of("throughput", "memory", "ttft");
    private Tokenizer tok;
    private final List<BenchResult> results = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        EngineBench b = new EngineBench();
        try {
            b.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("EngineBench: " + e.getMessage());
            System.exit(2);
        }
        b.run();
    }

    /** Runs the benchmark with {@code args} and returns its figures (also printed). */
    static List<BenchResult> run(String... args) throws Exception {
        return run(Turns.unpaced(), args);
    }

    /** Runs the benchmark with {@code args}, each turn taken from {@code turns}, and returns its figures. */
    static List<BenchResult> run(Turns turns, String... args) throws Exception {
        EngineBench b = new EngineBench();
        b.parse(args);
        b.turns = turns;
        b.run();
        return b.results;
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i += 2) {
            String k = args[i].replaceFirst("^--", "");
            if (k.equals("paced")) {
                turns = Turns.fromStdin();
                i--;
                continue;
            }
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option --" + k + " needs a value");
            }
            String v = args[i + 1];
            switch (k) {
                case "device" -> device = Device.parse(v).toString();
                case "only" -> parts = List.of(v.split(","));
                case "clients" -> clients = counts(v);
                case "config" -> {
                    if (!v.equals("small") && !v.equals("385m")) {
                        throw new IllegalArgumentException("--config is small or 385m, got " + v);
                    }
                    config = v;
                }
                case "dtype" -> {
                    if (!v.equals("f32") && !v.equals("bf16")) {
                        throw new IllegalArgumentException("--dtype is f32 or bf16, got " + v);
                    }
                    dtype = v.equals("bf16") ? DType.BF16 : DType.F32;
                }
                default -> {
                    if (!ints.containsKey(k)) {
                        throw new IllegalArgumentException("unknown option --" + k
                                + " (known: --device, --config, --dtype, --only, --clients, --paced, --"
                                + String.join(", --", ints.keySet()) + ")");
                    }
                    try {
                        ints.put(k, Integer.parseInt(v));
                    } catch (NumberFormatException e) {
                        throw new IllegalArgumentException("--" + k + " takes an integer, got " + v);
                    }
                }
            }
        }
        for (String p : parts) {
            if (!List.of("throughput", "memory", "ttft").contains(p)) {
                throw new IllegalArgumentException("--only takes throughput, memory, ttft; got " + p);
            }
        }
    }

    /** A list of client counts, e.g. {@code 1,16,64,256}. */
    private static int[] counts(String v) {
        String[] parts = v.split(",");
        int[] out = new int[parts.length];
        for (int i = 0; i < parts.length; i++) {
            try {
                out[i] = Integer.parseInt(parts[i].trim());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(
                        "--clients takes counts separated by commas (e.g. 1,16,64), got " + v);
            }
            if (out[i] < 1) {
                throw new IllegalArgumentException("--clients takes counts of at least 1, got " + v);
            }
        }
        return out;
    }

    private int opt(String k) {
        return ints.get(k);
    }

    private Device dev() {
        return Device.parse(device);
    }

    /**
     * The TNL under test, on the device in the benchmark's dtype: built with zero weights on the host (nothing drawn
     * there), moved, then every weight drawn from N(0, std²) where it lives.
     */
    private LanguageModel tnl() {
        long t0 = System.nanoTime();
        TnlConfig c = config.equals("385m")
                ? TnlConfig.tnl385m()
                : TnlConfig.small(257, opt("dim"), opt("layers"), opt("heads"));
        TnlModel m = new TnlModel(c.withInitStd(0), 1);
        m.train(false);
        place(m);
        Rng rng = new Rng(1);
        for (Parameter p : m.parameters()) {
            if (p.value().ndim() >= 2) {
                RandomFill.normal(p.value(), rng, 0, c.initStd());
            }
        }
        Backends.runtime(dev()).synchronize();
        tok = config.equals("385m") ? wideTokenizer(c.vocabSize()) : ByteTokenizer.withEndOfText();
        System.err.printf(
                Locale.ROOT,
                "model: %s, %,d parameters, %s on %s, built in %.1f s "
                        + "(zero weights made on the host, then drawn from N(0, %.2f²) on %s)%n",
                m.describe(),
                m.parameterCount(),
                dtype.name().toLowerCase(Locale.ROOT),
                device,
                (System.nanoTime() - t0) / 1e9,
                c.initStd(),
                device);
        return m;
    }

    private LanguageModel llama() {
        Architecture a = Architectures.byName("llama");
        LanguageModel m = a.build(a.smallConfig(257, opt("dim"), opt("layers"), opt("heads")), 1);
        m.module().train(false);
        place(m);
        return m;
    }

    private void place(LanguageModel m) {
        if (dev().kind() != Device.Kind.CPU) {
            m.module().to(dev());
        }
        if (dtype != DType.F32) {
            m.module().to(dtype);
        }
    }

    /** Byte ids, then a special token for every other id of the vocabulary, and no end of text. */
    private static Tokenizer wideTokenizer(int vocab) {
        List<String> specials = new ArrayList<>(vocab - 256);
        for (int id = 256; id < vocab; id++) {
            specials.add("<|" + id + "|>");
        }
        return new ByteTokenizer(specials);
    }

    /**
     * Turns: the model and the throughput warm-ups; one per round and client count; the memory and first-token
     * figures. Paced ({@code --paced}), each waits for its turn ({@link Turns}).
     */
    private void run() throws Exception {
        if (!turns.next()) {
            return;
        }
        try (LanguageModel tnl = tnl()) {
            if (parts.contains("throughput") && !throughput(tnl)) {
                return;
            }
            if ((parts.contains("memory") || parts.contains("ttft")) && !turns.next()) {
                return;
            }
            if (parts.contains("memory")) {
                memory(tnl, "tnl", new int[] {1024, opt("long")});
            }
            if (parts.contains("ttft")) {
                ttft(tnl);
            }
        }
        if (parts.contains("memory") && config.equals("small")) {
            try (LanguageModel llama = llama()) {
                memory(llama, "llama", new int[] {1024, 4096});
            }
        }
    }

    /** Keeps a figure and prints it at once (a run cut short keeps what it measured). */
    private void emit(BenchResult r) {
        results.add(r);
        System.out.println(r.toJson());
        System.out.flush();
    }

    private int[] prompt(long seed, int n) {
        Rng r = new Rng(seed);
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = r.nextInt(256);
        }
        return p;
    }

    private EngineOptions options(int maxRunning, long cacheBytes, int graphs) {
        int longest = Math.max(Math.max(opt("long"), opt("shared")), 4096);
        return new EngineOptions(
                maxRunning, 4096, longest + 1024, 4096, 64L << 30, 512, cacheBytes, 0, Duration.ofHours(1), graphs);
    }

    // ------------------------------------------------------------------------ throughput

    /**
     * In the turn that builds the model: the kernels of an eager round and the warm-ups at every client count; then one
     * turn per round and client count (the first count's also times one unbatched stream). False when the turns ran
     * out.
     */
    private boolean throughput(LanguageModel model) throws Exception {
        int tokens = opt("tokens");
        int most = java.util.Arrays.stream(clients).max().orElseThrow();
        DeviceRuntime rt = Backends.runtime(dev());
        Round eager = kernels(model, rt, most);
        // one engine for every count: its pool holds the most streams, and it keeps a recorded step per batch size
        try (Engine engine = Engines.of(model, tok, "bench", options(most, 0, opt("graphs")))) {
            // warm-up of both paths (JIT, kernels, scratch buffers; the engine records its decode step at each count)
            unbatched(model, Math.max(2, tokens / 4));
            Round warm = null;
            for (int n : clients) {
                Round w = batched(engine, n, Math.max(PROFILED_TOKENS, tokens / 4));
                warm = n == most ? w : warm;
            }
            sameTokens(eager, warm);
            for (int r = 0; r < opt("rounds"); r++) {
                for (int c = 0; c < clients.length; c++) {
                    if (!turns.next()) {
                        return false;
                    }
                    if (c == 0) {
                        double one = unbatched(model, tokens);
                        System.err.printf(
                                Locale.ROOT, "round %d: one unbatched Generator stream %.1f tokens/s%n", r + 1, one);
                        emit(result("throughput", "unbatched_tokens_per_s", one, "tokens/s", Map.of("round", r + 1)));
                    }
                    engineRound(engine, rt, r, clients[c], tokens);
                }
            }
        }
        return true;
    }

    /** One measured round of n concurrent streams. */
    private void engineRound(Engine engine, DeviceRuntime rt, int r, int n, int tokens) throws InterruptedException {
        rt.resetPeakMemory();
        Round b = batched(engine, n, tokens);
        long peak = rt.peakMemoryBytes();
        System.err.printf(
                Locale.ROOT,
                "round %d: engine with %d clients %.1f tokens/s, decode %.1f tokens/s, "
                        + "TTFT p50/p99 %.1f/%.1f ms, ITL p50/p99 %.2f/%.2f ms, %d failed, state %,d bytes (%,d per sequence), device peak %.2f GiB%n",
                r + 1,
                n,
                b.tokensPerS,
                b.decodeTokensPerS,
                b.ttft.percentile(50),
                b.ttft.percentile(99),
                b.itl.percentile(50),
                b.itl.percentile(99),
                b.failed,
                b.stateBytes,
                b.stateBytes / Math.max(1, b.stateSequences),
                peak / 1073741824.0);
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("round", r + 1);
        e.put("clients", n);
        e.put("new_tokens", tokens);
        e.put("prompt_tokens", opt("prompt"));
        e.put("decode_tokens_per_s", b.decodeTokensPerS);
        e.put("ttft_p50_ms", b.ttft.percentile(50));
        e.put("ttft_p99_ms", b.ttft.percentile(99));
        e.put("itl_p50_ms", b.itl.percentile(50));
        e.put("itl_p99_ms", b.itl.percentile(99));
        e.put("failed", b.failed);
        e.put("tokens", b.tokens);
        e.put("state_bytes", b.stateBytes);
        e.put("state_sequences", b.stateSequences);
        e.put("state_bytes_per_sequence", b.stateBytes / Math.max(1, b.stateSequences));
        e.put("device_peak_bytes", peak);
        emit(result("throughput", "engine_tokens_per_s", b.tokensPerS, "tokens/s", e));
    }

    /** Tokens of the profiled eager round, compared with the first tokens of the engine that records its decode step. */
    private static final int PROFILED_TOKENS = 6;

    /**
     * The kernels one eager batched round launches (no graph: a replay would hide them), on stderr and as results;
     * returns the round (its tokens are what the recorded step must give).
     */
    private Round kernels(LanguageModel model, DeviceRuntime rt, int n) throws Exception {
        try (Engine eager = Engines.of(model, tok, "bench", options(n, 0, 0))) {
            batched(eager, n, 2); // loads every kernel first
            int steps = PROFILED_TOKENS;
            Round[] round = new Round[1];
            List<DeviceRuntime.KernelTime> ks = rt.profile(() -> {
                try {
                    round[0] = batched(eager, n, steps);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted", e);
                }
            });
            double total =
                    ks.stream().mapToDouble(DeviceRuntime.KernelTime::millis).sum();
            if (ks.isEmpty()) {
                return round[0]; // a device without kernel timing (the CPU)
            }
            System.err.printf(
                    Locale.ROOT,
                    "kernels of one eager round (%d clients: prefill of %d-token prompts, %d decode steps), %.1f ms of device time:%n",
                    n,
                    opt("prompt"),
                    steps - 1,
                    total);
            for (DeviceRuntime.KernelTime k : ks) {
                System.err.printf(
                        Locale.ROOT,
                        "  %-40s %6d launches %9.3f ms %5.1f%%%n",
                        k.name(),
                        k.launches(),
                        k.millis(),
                        100 * k.millis() / total);
                emit(result(
                        "kernels",
                        k.name(),
                        k.millis(),
                        "ms",
                        Map.of("launches", k.launches(), "clients", n, "decode_steps", steps - 1)));
            }
            return round[0];
        }
    }

    /**
     * Whether every request of {@code graphed} (an engine that records its decode step and replays it) began with the
     * tokens the eager round gave it: the replay must compute what the eager step computes.
     */
    private void sameTokens(Round eager, Round graphed) {
        int same = 0;
        int n = eager.requests.size();
        for (int i = 0; i < n; i++) {
            RequestTimes a = eager.requests.get(i);
            RequestTimes b = graphed.requests.get(i);
            int k = Math.min(a.count, PROFILED_TOKENS);
            same += b.count >= k && java.util.Arrays.equals(a.ids, 0, k, b.ids, 0, k) ? 1 : 0;
        }
        System.err.printf(
                Locale.ROOT,
                "recorded decode step (graphs %d) against eager steps: %d of %d requests gave the same first %d tokens%s%n",
                opt("graphs"),
                same,
                n,
                PROFILED_TOKENS,
                same == n ? "" : "  <-- MISMATCH");
        emit(result(
                "check",
                "same_tokens_as_eager",
                same,
                "requests",
                Map.of("clients", n, "tokens", PROFILED_TOKENS, "graphs", opt("graphs"))));
    }

    private double unbatched(LanguageModel model, int tokens) {
        long t0 = System.nanoTime();
        Generator.Output o = Generator.generate(
                model, tok, prompt(7, opt("prompt")), new Generator.Settings(tokens, 0, 0, 1, 0, List.of()), null);
        return o.tokens() / ((System.nanoTime() - t0) / 1e9);
    }

    /** What one round of concurrent requests measured. */
    private static final class Round {
        final List<RequestTimes> requests = new ArrayList<>();
        double tokensPerS;
        double decodeTokensPerS;
        long tokens;
        int failed;
        /** The most state the engine held while this round ran, and how many sequences held it then. */
        long stateBytes;

        int stateSequences;
        final ServeLoad.Samples ttft = new ServeLoad.Samples();
        final ServeLoad.Samples itl = new ServeLoad.Samples();
    }

    /** One request's token times (written by the engine thread only). */
    private static final class RequestTimes implements TokenSink {
        final long submitted;
        final long[] times;
        final int[] ids;
        final CountDownLatch done;
        final Engine engine;
        int count;
        boolean failed;
        long stateBytes;
        int stateSequences;

        RequestTimes(Engine engine, int tokens, CountDownLatch done) {
            this.engine = engine;
            this.times = new long[tokens + 1];
            this.ids = new int[tokens + 1];
            this.done = done;
            this.submitted = System.nanoTime();
        }

        @Override
        public void onToken(int token, String text) {
            if (count < times.length) {
                times[count] = System.nanoTime();
                ids[count] = token;
            }
            if (count >= 1) {
                // stats are published after each step: from the second token on they include this request. The
                // sequences running at the peak come from the same snapshot: on a loaded machine the first
                // requests can finish before the last is admitted, so they need not be all the clients
                EngineStats st = engine.stats();
                if (st.stateBytes() > stateBytes) {
                    stateBytes = st.stateBytes();
                    stateSequences = st.running();
                }
            }
            count++;
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            failed = reason == FinishReason.CANCELLED || reason == FinishReason.TIMEOUT;
            done.countDown();
        }

        @Override
        public void onError(String message) {
            failed = true;
            System.err.println("request failed: " + message);
            done.countDown();
        }
    }

    private Round batched(Engine engine, int clients, int tokens) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(clients);
        List<RequestTimes> streams = new ArrayList<>(clients);
        long t0 = System.nanoTime();
        for (int i = 0; i < clients; i++) {
            RequestTimes s = new RequestTimes(engine, tokens, done);
            streams.add(s);
            engine.submit(
                    new GenerationRequest(
                            prompt(100 + i, opt("prompt")), SamplingParams.GREEDY, tokens, List.of(), null),
                    s);
        }
        if (!done.await(1, TimeUnit.HOURS)) {
            throw new IllegalStateException("the engine did not finish");
        }
        Round r = new Round();
        r.requests.addAll(streams);
        long lastFirst = 0;
        long end = 0;
        for (RequestTimes s : streams) {
            r.tokens += s.count;
            r.failed += s.failed ? 1 : 0;
            if (s.stateBytes > r.stateBytes) {
                r.stateBytes = s.stateBytes;
                r.stateSequences = s.stateSequences;
            }
            int n = Math.min(s.count, s.times.length);
            if (n > 0) {
                lastFirst = Math.max(lastFirst, s.times[0]);
                end = Math.max(end, s.times[n - 1]);
                r.ttft.add((s.times[0] - s.submitted) / 1e6);
            }
            for (int j = 1; j < n; j++) {
                r.itl.add((s.times[j] - s.times[j - 1]) / 1e6);
            }
        }
        long decoded = 0;
        for (RequestTimes s : streams) {
            for (int j = 0; j < Math.min(s.count, s.times.length); j++) {
                decoded += s.times[j] > lastFirst ? 1 : 0;
            }
        }
        r.tokensPerS = r.tokens / ((end - t0) / 1e9);
        r.decodeTokensPerS = end > lastFirst ? decoded / ((end - lastFirst) / 1e9) : Double.NaN;
        return r;
    }

    // ------------------------------------------------------------------------ memory

    /** The engine's memory figures for one request with a prompt of each length, read once its prompt is in. */
    private void memory(LanguageModel model, String arch, int[] lengths) throws Exception {
        for (int len : lengths) {
            try (Engine engine = Engines.of(model, tok, "bench", options(4, 0, opt("graphs")))) {
                CountDownLatch done = new CountDownLatch(1);
                long[] seen = new long[3];
                long t0 = System.nanoTime();
                engine.submit(
                        new GenerationRequest(prompt(len, len), SamplingParams.GREEDY, 4, List.of(), null),
                        new TokenSink() {
                            private int tokens;

                            @Override
                            public void onToken(int token, String text) {
                                if (++tokens == 3) {
                                    // stats are published after each step: those of the step that prefilled the
                                    // prompt's last
                                    // chunk and decoded the first token (the second token comes in that step too)
                                    seen[0] = engine.stats().stateBytes();
                                    seen[1] = engine.stats().kvBytes();
                                    seen[2] = System.nanoTime();
                                }
                            }

                            @Override
                            public void onFinish(FinishReason reason, Usage usage) {
                                done.countDown();
                            }

                            @Override
                            public void onError(String message) {
                                System.err.println("request failed: " + message);
                                done.countDown();
                            }
                        });
                if (!done.await(1, TimeUnit.HOURS)) {
                    throw new IllegalStateException("the engine did not finish");
                }
                double secs = (seen[2] - t0) / 1e9;
                System.err.printf(
                        Locale.ROOT,
                        "%s, %,d-token prompt: state %,d bytes, keys/values %,d bytes (prefill and 2 tokens in %.2f s)%n",
                        arch,
                        len,
                        seen[0],
                        seen[1],
                        secs);
                emit(result("memory", arch + "_state_bytes", seen[0], "bytes", Map.of("prompt_tokens", len)));
                emit(result("memory", arch + "_kv_bytes", seen[1], "bytes", Map.of("prompt_tokens", len)));
                emit(result("memory", arch + "_prefill_seconds", secs, "s", Map.of("prompt_tokens", len)));
            }
        }
    }

    // ------------------------------------------------------------------------ time to first token

    private void ttft(LanguageModel model) throws Exception {
        int[] shared = prompt(4242, opt("shared"));
        try (Engine cached = Engines.of(model, tok, "bench", options(4, 8L << 30, opt("graphs")));
                Engine plain = Engines.of(model, tok, "bench", options(4, 0, opt("graphs")))) {
            double cold = firstToken(cached, shared); // fills the cache
            for (int r = 0; r < opt("rounds"); r++) {
                double without = firstToken(plain, shared);
                double with = firstToken(cached, shared);
                System.err.printf(
                        Locale.ROOT,
                        "round %d: time to first token of a repeated %,d-token prompt: %.1f ms without the state cache, %.2f ms with it "
                                + "(%.0fx)%n",
                        r + 1,
                        shared.length,
                        without * 1e3,
                        with * 1e3,
                        without / with);
                emit(result(
                        "ttft",
                        "ttft_without_cache_ms",
                        without * 1e3,
                        "ms",
                        Map.of("round", r + 1, "prompt_tokens", shared.length)));
                emit(result(
                        "ttft",
                        "ttft_with_cache_ms",
                        with * 1e3,
                        "ms",
                        Map.of(
                                "round",
                                r + 1,
                                "prompt_tokens",
                                shared.length,
                                "speedup",
                                without / with,
                                "cached_prompt_tokens",
                                cached.stats().cachedPromptTokens())));
            }
            emit(result("ttft", "ttft_cold_ms", cold * 1e3, "ms", Map.of("prompt_tokens", shared.length)));
        }
    }

    /** Seconds from submitting {@code prompt} to its first token reaching the sink. */
    private double firstToken(Engine engine, int[] prompt) throws InterruptedException {
        long[] first = new long[1];
        CountDownLatch done = new CountDownLatch(1);
        long t0 = System.nanoTime();
        engine.submit(new GenerationRequest(prompt, SamplingParams.GREEDY, 1, List.of(), null), new TokenSink() {
            @Override
            public void onToken(int token, String text) {
                if (first[0] == 0) {
                    first[0] = System.nanoTime();
                }
            }

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                done.countDown();
            }

            @Override
            public void onError(String message) {
                System.err.println("request failed: " + message);
                done.countDown();
            }
        });
        if (!done.await(1, TimeUnit.HOURS)) {
            throw new IllegalStateException("the engine did not finish");
        }
        if (first[0] == 0) {
            throw new IllegalStateException("the request ended without a token");
        }
        return (first[0] - t0) / 1e9;
    }

    private BenchResult result(String name, String metric, double value, String unit, Map<String, Object> extra) {
        Map<String, Object> e = new LinkedHashMap<>(extra);
        e.put(
                "model",
                config.equals("385m")
                        ? "tnl-385m"
                        : "small " + opt("dim") + "/" + opt("layers") + "/" + opt("heads") + " (dim/layers/heads)");
        e.put("dtype", dtype.name().toLowerCase(Locale.ROOT));
        e.put("device", device);
        return new BenchResult("engine-" + name, metric, value, unit, Machine.describe(e));
    }
}
