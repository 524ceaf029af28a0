package fulgur.bench;

import fulgur.generate.Generator;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import fulgur.serve.engine.Engines;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * The continuous-batching engine in this JVM, on a small TNL (random weights: speed and memory do not depend on them):
 * <ol>
 *   <li>aggregate decode throughput of N concurrent requests against one unbatched {@link Generator} stream on the
 *       same model, in alternating rounds;</li>
 *   <li>the memory a sequence holds after a 1K-token and a 32K-token prompt (TNL: a fixed-size state; Llama of the
 *       same width: keys and values that grow with the context, at 1K and 4K);</li>
 *   <li>time to first token of a repeated 4K-token prompt with and without the prefix state cache.</li>
 * </ol>
 * Prints one JSON line per figure ({@link BenchResult}) and a summary on stderr.
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp fulgur-bench/target/benchmarks.jar \
 *     fulgur.bench.EngineBench [--dim 256] [--layers 4] [--heads 4] [--clients 32] [--tokens 128] [--rounds 3]
 *     [--long 32768] [--shared 4096] [--device cpu] [--only throughput,memory,ttft]
 * </pre>
 */
public final class EngineBench {
    private final Map<String, Integer> ints = new LinkedHashMap<>(Map.of("dim", 256, "layers", 4, "heads", 4, "clients", 32, "tokens", 128,
            "rounds", 3, "long", 32768, "shared", 4096, "prompt", 32));
    private String device = "cpu";
    private List<String> parts = List.of("throughput", "memory", "ttft");
    private final Tokenizer tok = ByteTokenizer.withEndOfText();
    private final List<BenchResult> results = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        EngineBench b = new EngineBench();
        b.parse(args);
        b.run();
    }

    private void parse(String[] args) {
        for (int i = 0; i < args.length; i += 2) {
            String k = args[i].replaceFirst("^--", "");
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option --" + k + " needs a value");
            }
            if (k.equals("device")) {
                device = args[i + 1];
            } else if (k.equals("only")) {
                parts = List.of(args[i + 1].split(","));
            } else if (ints.containsKey(k)) {
                ints.put(k, Integer.parseInt(args[i + 1]));
            } else {
                throw new IllegalArgumentException("unknown option --" + k + " (known: --device, --only, --" + String.join(", --", ints.keySet()) + ")");
            }
        }
    }

    private int opt(String k) {
        return ints.get(k);
    }

    private LanguageModel model(String arch) {
        Architecture a = Architectures.byName(arch);
        LanguageModel m = a.build(a.smallConfig(257, opt("dim"), opt("layers"), opt("heads")), 1);
        m.module().train(false);
        Device d = Device.parse(device);
        if (d.kind() != Device.Kind.CPU) {
            m.module().to(d);
        }
        return m;
    }

    private void run() throws Exception {
        try (LanguageModel tnl = model("tnl")) {
            System.err.printf("model: %s, %,d parameters, on %s%n", tnl.describe(), tnl.parameterCount(), device);
            if (parts.contains("throughput")) {
                throughput(tnl);
            }
            if (parts.contains("memory")) {
                memory(tnl, "tnl", new int[] {1024, opt("long")});
            }
            if (parts.contains("ttft")) {
                ttft(tnl);
            }
        }
        if (parts.contains("memory")) {
            try (LanguageModel llama = model("llama")) {
                memory(llama, "llama", new int[] {1024, 4096});
            }
        }
        for (BenchResult r : results) {
            System.out.println(r.toJson());
        }
    }

    private int[] prompt(long seed, int n) {
        Rng r = new Rng(seed);
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = r.nextInt(256);
        }
        return p;
    }

    private EngineOptions options(int maxRunning, long cacheBytes) {
        int longest = Math.max(Math.max(opt("long"), opt("shared")), 4096);
        return new EngineOptions(maxRunning, 4096, longest + 1024, 4096, 64L << 30, 512, cacheBytes, 0, Duration.ofHours(1));
    }

    // ------------------------------------------------------------------------ throughput

    private void throughput(LanguageModel model) throws Exception {
        int n = opt("clients");
        int tokens = opt("tokens");
        try (Engine engine = Engines.of(model, tok, "bench", options(n, 0))) {
            // warm-up of both paths (JIT, scratch buffers)
            unbatched(model, tokens / 4);
            batched(engine, Math.min(n, 8), tokens / 4);
            for (int r = 0; r < opt("rounds"); r++) {
                double one = unbatched(model, tokens);
                double all = batched(engine, n, tokens);
                System.err.printf("round %d: unbatched %.1f tokens/s, engine with %d clients %.1f tokens/s (%.2fx)%n", r + 1, one, n, all, all / one);
                results.add(result("throughput", "unbatched_tokens_per_s", one, "tokens/s", Map.of("round", r + 1)));
                results.add(result("throughput", "engine_tokens_per_s", all, "tokens/s", Map.of("round", r + 1, "clients", n, "ratio", all / one)));
            }
        }
    }

    private double unbatched(LanguageModel model, int tokens) {
        long t0 = System.nanoTime();
        Generator.Output o = Generator.generate(model, tok, prompt(7, opt("prompt")), new Generator.Settings(tokens, 0, 0, 1, 0, List.of()), null);
        return o.tokens() / ((System.nanoTime() - t0) / 1e9);
    }

    private double batched(Engine engine, int clients, int tokens) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(clients);
        long[] count = new long[1];
        long t0 = System.nanoTime();
        for (int i = 0; i < clients; i++) {
            engine.submit(new GenerationRequest(prompt(100 + i, opt("prompt")), SamplingParams.GREEDY, tokens, List.of(), null), new TokenSink() {
                @Override
                public void onToken(int token, String text) {
                    count[0]++; // the engine thread is the only writer
                }

                @Override
                public void onFinish(FinishReason reason, Usage usage) {
                    done.countDown();
                }

                @Override
                public void onError(String message) {
                    throw new IllegalStateException(message);
                }
            });
        }
        if (!done.await(1, TimeUnit.HOURS)) {
            throw new IllegalStateException("the engine did not finish");
        }
        return count[0] / ((System.nanoTime() - t0) / 1e9);
    }

    // ------------------------------------------------------------------------ memory

    /** The engine's memory figures for one request with a prompt of each length, read once its prompt is in. */
    private void memory(LanguageModel model, String arch, int[] lengths) throws Exception {
        for (int len : lengths) {
            try (Engine engine = Engines.of(model, tok, "bench", options(4, 0))) {
                CountDownLatch done = new CountDownLatch(1);
                long[] seen = new long[3];
                long t0 = System.nanoTime();
                engine.submit(new GenerationRequest(prompt(len, len), SamplingParams.GREEDY, 4, List.of(), null), new TokenSink() {
                    private int tokens;

                    @Override
                    public void onToken(int token, String text) {
                        if (++tokens == 3) {
                            // stats are published after each step: those of the step that prefilled the prompt's last
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
                        throw new IllegalStateException(message);
                    }
                });
                if (!done.await(1, TimeUnit.HOURS)) {
                    throw new IllegalStateException("the engine did not finish");
                }
                double secs = (seen[2] - t0) / 1e9;
                System.err.printf("%s, %,d-token prompt: state %,d bytes, keys/values %,d bytes (prefill and 2 tokens in %.1f s)%n", arch, len, seen[0], seen[1],
                        secs);
                results.add(result("memory", arch + "_state_bytes", seen[0], "bytes", Map.of("prompt_tokens", len)));
                results.add(result("memory", arch + "_kv_bytes", seen[1], "bytes", Map.of("prompt_tokens", len)));
                results.add(result("memory", arch + "_prefill_seconds", secs, "s", Map.of("prompt_tokens", len)));
            }
        }
    }

    private static TokenSink finishing(CountDownLatch done) {
        return new TokenSink() {
            @Override
            public void onToken(int token, String text) {}

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                done.countDown();
            }

            @Override
            public void onError(String message) {
                throw new IllegalStateException(message);
            }
        };
    }

    // ------------------------------------------------------------------------ time to first token

    private void ttft(LanguageModel model) throws Exception {
        int[] shared = prompt(4242, opt("shared"));
        try (Engine cached = Engines.of(model, tok, "bench", options(4, 8L << 30)); Engine plain = Engines.of(model, tok, "bench", options(4, 0))) {
            double cold = firstToken(cached, shared); // fills the cache
            for (int r = 0; r < opt("rounds"); r++) {
                double without = firstToken(plain, shared);
                double with = firstToken(cached, shared);
                System.err.printf("round %d: time to first token of a repeated %,d-token prompt: %.1f ms without the state cache, %.2f ms with it (%.0fx)%n",
                        r + 1, shared.length, without * 1e3, with * 1e3, without / with);
                results.add(result("ttft", "ttft_without_cache_ms", without * 1e3, "ms", Map.of("round", r + 1, "prompt_tokens", shared.length)));
                results.add(result("ttft", "ttft_with_cache_ms", with * 1e3, "ms",
                        Map.of("round", r + 1, "prompt_tokens", shared.length, "speedup", without / with, "cached_prompt_tokens", cached.stats().cachedPromptTokens())));
            }
            results.add(result("ttft", "ttft_cold_ms", cold * 1e3, "ms", Map.of("prompt_tokens", shared.length)));
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
                throw new IllegalStateException(message);
            }
        });
        if (!done.await(1, TimeUnit.HOURS)) {
            throw new IllegalStateException("the engine did not finish");
        }
        return (first[0] - t0) / 1e9;
    }

    private BenchResult result(String name, String metric, double value, String unit, Map<String, Object> extra) {
        Map<String, Object> e = new LinkedHashMap<>(extra);
        e.put("model", "small " + Arrays.toString(new int[] {opt("dim"), opt("layers"), opt("heads")}) + " (dim, layers, heads)");
        e.put("device", device);
        return new BenchResult("engine-" + name, metric, value, unit, Machine.describe(e));
    }
}
