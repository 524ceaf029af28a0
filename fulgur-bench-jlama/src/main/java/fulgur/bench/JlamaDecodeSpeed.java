package fulgur.bench;

import com.github.tjake.jlama.model.AbstractModel;
import com.github.tjake.jlama.model.ModelSupport;
import com.github.tjake.jlama.model.functions.Generator;
import com.github.tjake.jlama.safetensors.DType;
import com.github.tjake.jlama.safetensors.prompt.PromptContext;
import java.io.File;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;

/**
 * Jlama's decoding speed on a Hugging Face Llama directory at one context length, in this JVM: a warm-up generation
 * on a short prompt, then one {@link AbstractModel#generate} with a prompt of {@code context} tokens (Jlama adds BOS
 * to the {@link CharTokenizerJson#text} of {@code context - 1} pieces, as {@link DecodeSpeed} does) and
 * {@code tokens} new ones, greedy, f32 weights and working memory, {@code threads} threads. Tokens per second are
 * Jlama's own count over its own decode time ({@code generatedTokens / generateTimeMs}, the prefill excluded).
 * Jlama decodes one sequence at a time: there is no batch figure.
 *
 * <p>{@code JlamaDecodeSpeed --model DIR --context N [--tokens 32] [--threads 2]}: one JSON line per figure.
 */
public final class JlamaDecodeSpeed {

    private JlamaDecodeSpeed() {}

    public static void main(String[] args) {
        Map<String, String> o = DecodeSpeed.options(
                args, Map.of("tokens", "32", "threads", "2", "seed", "11"), List.of("model", "context"));
        int context = Integer.parseInt(o.get("context"));
        int tokens = Integer.parseInt(o.get("tokens"));
        File dir = new File(o.get("model"));
        AbstractModel model = ModelSupport.loadModel(
                dir, null, DType.F32, DType.F32, Optional.empty(), Optional.of(Integer.parseInt(o.get("threads"))));
        int vocab = model.getConfig().vocabularySize;
        List<BenchResult> out = new ArrayList<>();
        try {
            // warm-up: the prefill and decode paths on a short prompt
            model.generate(
                    UUID.randomUUID(),
                    PromptContext.of(CharTokenizerJson.text(5, 63, vocab)),
                    0f,
                    64 + DecodeSpeed.WARMUP_TOKENS);
            List<Integer> ids = new ArrayList<>();
            Generator.Response r = model.generate(
                    UUID.randomUUID(),
                    PromptContext.of(CharTokenizerJson.text(Long.parseLong(o.get("seed")), context - 1, vocab)),
                    0f,
                    context + tokens,
                    (text, ms) -> text.codePoints().forEach(cp -> ids.add(CharTokenizerJson.id(cp))));
            if (r.promptTokens != context - 1) {
                throw new IllegalStateException(
                        "Jlama's tokenizer made " + r.promptTokens + " tokens of " + (context - 1) + " characters");
            }
            var c = model.getConfig();
            long kvBytes = 2L * c.numberOfLayers * c.kvLength * Float.BYTES * (context + r.generatedTokens);
            out.add(new BenchResult("decode", "prefill_s", r.promptTimeMs / 1e3, "s", Map.of("context", context)));
            out.add(new BenchResult(
                    "decode",
                    "tokens_per_s",
                    r.generatedTokens / (r.generateTimeMs / 1e3),
                    "tokens/s",
                    Map.of(
                            "context",
                            context,
                            "batch",
                            1,
                            "tokens",
                            r.generatedTokens,
                            "kv_bytes",
                            kvBytes,
                            "greedy_ids",
                            ids.subList(0, Math.min(8, ids.size())).toString())));
            out.add(new BenchResult(
                    "decode", "peak_rss_bytes", DecodeSpeed.peakRssBytes(), "bytes", Map.of("context", context)));
            out.add(new BenchResult(
                    "decode", "peak_heap_bytes", DecodeSpeed.peakHeapBytes(), "bytes", Map.of("context", context)));
        } finally {
            model.close();
        }
        for (BenchResult b : out) {
            Map<String, Object> e = new LinkedHashMap<>(b.extra());
            e.put("model", "Jlama " + version() + " Llama");
            e.put("threads", Integer.parseInt(o.get("threads")));
            System.out.println(
                    new BenchResult(b.name(), b.metric(), b.value(), b.unit(), Machine.describe(e)).toJson());
        }
        System.exit(0); // Jlama's executor threads are not daemons
    }

    /** Jlama's version, from the Maven properties inside its jar. */
    static String version() {
        try (var in =
                AbstractModel.class.getResourceAsStream("/META-INF/maven/com.github.tjake/jlama-core/pom.properties")) {
            var p = new java.util.Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "(unknown version)");
        } catch (java.io.IOException e) {
            return "(unknown version)";
        }
    }
}
