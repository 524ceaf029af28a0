package fulgur.bench;

import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.serve.Engine;
import fulgur.serve.EngineOptions;
import fulgur.serve.FinishReason;
import fulgur.serve.GenerationRequest;
import fulgur.serve.SamplingParams;
import fulgur.serve.TokenSink;
import fulgur.serve.Usage;
import fulgur.serve.engine.Engines;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Decoding speed of one model directory at one context length, in this JVM, through the serving engine: the prompt
 * ({@code context} tokens: BOS and {@link CharTokenizerJson#text} pieces) is prefilled once and kept in the engine's
 * prefix state cache, so every later request with it starts decoding at once from a state (TNL) or keys and values
 * (Llama) {@code context} tokens long. Batch 1 is one such request; batch 16 is 16 of them submitted together and
 * decoded in one forward per step. Tokens per second count the tokens after each request's first (decoding only),
 * greedy, {@code tokens} per request. Also prints the JVM's peak resident set and heap, and the engine's state and
 * key/value bytes near the end of each run.
 *
 * <p>{@code DecodeSpeed --model DIR --context N [--tokens 32] [--batch 16]}: one JSON line per figure on stdout.
 */
public final class DecodeSpeed {
    /** Tokens decoded before measuring, so that the JIT has compiled the step. */
    public static final int WARMUP_TOKENS = 32;

    private final LanguageModel model;
    private final Tokenizer tok;
    private final int[] prompt;
    private final int tokens;

    private DecodeSpeed(LanguageModel model, Tokenizer tok, int[] prompt, int tokens) {
        this.model = model;
        this.tok = tok;
        this.prompt = prompt;
        this.tokens = tokens;
    }

    public static void main(String[] args) throws Exception {
        Map<String, String> o =
                options(args, Map.of("tokens", "32", "batch", "16", "seed", "11"), List.of("model", "context"));
        Path dir = Path.of(o.get("model"));
        int context = Integer.parseInt(o.get("context"));
        int tokens = Integer.parseInt(o.get("tokens"));
        int batch = Integer.parseInt(o.get("batch"));
        try (LanguageModel model = ReferenceCheckpoint.load(dir)) {
            model.module().train(false);
            Tokenizer tok = ModelDirectory.tokenizer(dir);
            int[] prompt = prompt(tok, Long.parseLong(o.get("seed")), context, model.vocabSize());
            String arch = model.describe();
            for (BenchResult r : new DecodeSpeed(model, tok, prompt, tokens).run(batch)) {
                Map<String, Object> e = new LinkedHashMap<>(r.extra());
                e.put("model", arch);
                e.put("parameters", model.parameterCount());
                System.out.println(
                        new BenchResult(r.name(), r.metric(), r.value(), r.unit(), Machine.describe(e)).toJson());
            }
        }
    }

    /** The prompt of {@code context} tokens: BOS, then the text's pieces (one token each). */
    static int[] prompt(Tokenizer tok, long seed, int context, int vocab) {
        int[] text = tok.encode(CharTokenizerJson.text(seed, context - 1, vocab));
        if (text.length != context - 1) {
            throw new IllegalStateException("the tokenizer made " + text.length + " tokens of " + (context - 1)
                    + " characters: not a CharTokenizerJson tokenizer");
        }
        int[] p = new int[context];
        p[0] = tok.bosId().orElse(CharTokenizerJson.BOS);
        System.arraycopy(text, 0, p, 1, text.length);
        return p;
    }

    private List<BenchResult> run(int batch) throws InterruptedException {
        List<BenchResult> out = new ArrayList<>();
        int context = prompt.length;
        EngineOptions opts = new EngineOptions(
                batch,
                4 * batch,
                context,
                Math.max(tokens, WARMUP_TOKENS),
                64L << 30,
                512,
                32L << 30,
                0,
                Duration.ofHours(2),
                0);
        try (Engine engine = Engines.of(model, tok, "decode", opts)) {
            long t0 = System.nanoTime();
            run(engine, 1, 2); // prefills the prompt and caches its state and last logits
            double prefill = (System.nanoTime() - t0) / 1e9;
            out.add(new BenchResult("decode", "prefill_s", prefill, "s", Map.of("context", context)));
            run(engine, 1, WARMUP_TOKENS); // warm-up of the batch-1 step (as many tokens as JlamaDecodeSpeed's warm-up)
            run(engine, batch, WARMUP_TOKENS / 4); // and of the batched one
            Run one = run(engine, 1, tokens);
            out.add(new BenchResult(
                    "decode",
                    "tokens_per_s",
                    one.tokensPerSecond(),
                    "tokens/s",
                    Map.of(
                            "context",
                            context,
                            "batch",
                            1,
                            "tokens",
                            one.decoded,
                            "state_bytes",
                            one.stateBytes,
                            "kv_bytes",
                            one.kvBytes,
                            "greedy_ids",
                            one.greedy.toString())));
            Run many = run(engine, batch, tokens);
            out.add(new BenchResult(
                    "decode",
                    "tokens_per_s",
                    many.tokensPerSecond(),
                    "tokens/s",
                    Map.of(
                            "context",
                            context,
                            "batch",
                            batch,
                            "tokens",
                            many.decoded,
                            "state_bytes",
                            many.stateBytes,
                            "kv_bytes",
                            many.kvBytes)));
        }
        out.add(new BenchResult("decode", "peak_rss_bytes", peakRssBytes(), "bytes", Map.of("context", context)));
        out.add(new BenchResult("decode", "peak_heap_bytes", peakHeapBytes(), "bytes", Map.of("context", context)));
        return out;
    }

    /** What one batch of requests did: tokens decoded after each request's first, over the time they took. */
    private static final class Run {
        long firstOfLast;
        long end;
        long decoded;
        long stateBytes;
        long kvBytes;
        final List<Integer> greedy = new ArrayList<>();

        double tokensPerSecond() {
            return decoded / ((end - firstOfLast) / 1e9);
        }
    }

    /**
     * Submits {@code n} requests for the prompt at once and waits for them. Time runs from the moment every request
     * has its first token (all are then in the decode batch) to the last token; only the tokens in between count.
     */
    private Run run(Engine engine, int n, int maxTokens) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(n);
        Run r = new Run();
        long[] firsts = new long[n];
        long[][] times = new long[n][maxTokens];
        int[] counts = new int[n];
        String[] error = new String[1];
        for (int i = 0; i < n; i++) {
            int row = i;
            engine.submit(
                    new GenerationRequest(prompt, SamplingParams.GREEDY, maxTokens, List.of(), null), new TokenSink() {
                        @Override
                        public void onToken(int token, String text) {
                            long now = System.nanoTime();
                            times[row][counts[row]++] = now;
                            if (row == 0 && r.greedy.size() < 8) {
                                r.greedy.add(token);
                            }
                            if (counts[row] == 1) {
                                firsts[row] = now;
                            } else if (row == 0) {
                                // the engine publishes its figures after each step: those of the last step before this
                                // token
                                r.stateBytes = engine.stats().stateBytes();
                                r.kvBytes = engine.stats().kvBytes();
                            }
                        }

                        @Override
                        public void onFinish(FinishReason reason, Usage usage) {
                            done.countDown();
                        }

                        @Override
                        public void onError(String message) {
                            error[0] = message;
                            done.countDown();
                        }
                    });
        }
        if (!done.await(2, TimeUnit.HOURS)) {
            throw new IllegalStateException("the engine did not finish");
        }
        if (error[0] != null) {
            throw new IllegalStateException("generation failed: " + error[0]);
        }
        for (int i = 0; i < n; i++) {
            r.firstOfLast = Math.max(r.firstOfLast, firsts[i]);
        }
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < counts[i]; k++) {
                if (times[i][k] > r.firstOfLast) {
                    r.decoded++;
                    r.end = Math.max(r.end, times[i][k]);
                }
            }
        }
        return r;
    }

    /** The process's peak resident set (VmHWM), or -1 where /proc is not there. */
    public static long peakRssBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }

    /** The sum of the heap pools' peak usage. */
    public static long peakHeapBytes() {
        long n = 0;
        for (MemoryPoolMXBean p : ManagementFactory.getMemoryPoolMXBeans()) {
            if (p.getType() == MemoryType.HEAP && p.getPeakUsage() != null) {
                n += p.getPeakUsage().getUsed();
            }
        }
        return n;
    }

    /** {@code --key value} pairs over {@code defaults}; {@code required} keys must be given. One line and exit 2 on a bad option. */
    public static Map<String, String> options(String[] args, Map<String, String> defaults, List<String> required) {
        Map<String, String> o = new LinkedHashMap<>(defaults);
        String problem = null;
        for (int i = 0; i < args.length && problem == null; i += 2) {
            String k = args[i].replaceFirst("^--", "");
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                problem = "expected --option value pairs, got '" + args[i] + "'"
                        + (i + 1 >= args.length ? " without a value" : "");
            } else if (!defaults.containsKey(k) && !required.contains(k)) {
                List<String> known = new ArrayList<>(required);
                known.addAll(defaults.keySet());
                problem = "unknown option --" + k + " (known: --" + String.join(", --", known) + ")";
            } else {
                o.put(k, args[i + 1]);
            }
        }
        for (String k : required) {
            if (problem == null && !o.containsKey(k)) {
                problem = "missing --" + k;
            }
        }
        if (problem != null) {
            System.err.println(problem);
            System.exit(2);
        }
        return o;
    }
}
