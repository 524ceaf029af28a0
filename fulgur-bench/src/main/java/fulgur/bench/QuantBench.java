package fulgur.bench;

import fulgur.autograd.GradMode;
import fulgur.data.TextCorpus;
import fulgur.data.TokenStream;
import fulgur.generate.Generator;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.ops.Losses;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What weight-only int8 costs and saves on a trained model: perplexity on the held-out end of a text (the split
 * {@code fulgur train --data} holds out, 10%) for the checkpoint and its {@code fulgur convert --quantize int8}
 * conversion, the bytes their weights take in memory, and greedy decoding speed of both in alternating rounds.
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp fulgur-bench/target/benchmarks.jar \
 *     fulgur.bench.QuantBench --f32 runs/shakespeare --int8 runs/shakespeare-int8 --data tinyshakespeare.txt
 *     [--window 256] [--eval-tokens 32768] [--decode-tokens 128] [--rounds 3]
 * </pre>
 */
public final class QuantBench {
    private QuantBench() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> o = new LinkedHashMap<>(
                Map.of("window", "256", "eval-tokens", "32768", "decode-tokens", "128", "rounds", "3"));
        for (int i = 0; i + 1 < args.length; i += 2) {
            o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        }
        for (String k : List.of("f32", "int8", "data")) {
            if (!o.containsKey(k)) {
                throw new IllegalArgumentException("missing --" + k + " (usage: --f32 DIR --int8 DIR --data TEXT)");
            }
        }
        Path f32Dir = Path.of(o.get("f32"));
        Tokenizer tok = ModelDirectory.tokenizer(f32Dir);
        TokenStream held = TextCorpus.load(Path.of(o.get("data")), tok).validation();
        int window = Integer.parseInt(o.get("window"));
        long evalTokens = Math.min(held.size() - 1, Long.parseLong(o.get("eval-tokens")));
        List<BenchResult> results = new ArrayList<>();
        try (LanguageModel f32 = ReferenceCheckpoint.load(f32Dir);
                LanguageModel int8 = ReferenceCheckpoint.load(Path.of(o.get("int8")))) {
            f32.module().train(false);
            int8.module().train(false);
            double pf = perplexity(f32, held, window, evalTokens);
            double pq = perplexity(int8, held, window, evalTokens);
            long bf = weightBytes(f32);
            long bq = weightBytes(int8);
            System.err.printf(
                    "%s: perplexity on %,d held-out tokens: f32 %.4f, int8 %.4f (%+.3f%%); weights %,d → %,d bytes (%.2fx smaller)%n",
                    f32.describe(), evalTokens, pf, pq, 100 * (pq / pf - 1), bf, bq, (double) bf / bq);
            Map<String, Object> e = Map.of("model", f32.describe(), "held_out_tokens", evalTokens, "window", window);
            results.add(new BenchResult("quant", "perplexity_f32", pf, "", Machine.describe(e)));
            results.add(new BenchResult("quant", "perplexity_int8", pq, "", Machine.describe(e)));
            results.add(new BenchResult(
                    "quant", "perplexity_change_percent", 100 * (pq / pf - 1), "%", Machine.describe(e)));
            results.add(new BenchResult("quant", "weight_bytes_f32", bf, "bytes", Machine.describe(e)));
            results.add(new BenchResult("quant", "weight_bytes_int8", bq, "bytes", Machine.describe(e)));
            int n = Integer.parseInt(o.get("decode-tokens"));
            int[] prompt = tok.encode("ROMEO:");
            decode(f32, tok, prompt, n / 4);
            decode(int8, tok, prompt, n / 4);
            for (int r = 1; r <= Integer.parseInt(o.get("rounds")); r++) {
                double tf = decode(f32, tok, prompt, n);
                double tq = decode(int8, tok, prompt, n);
                System.err.printf(
                        "round %d: greedy decoding f32 %.1f tokens/s, int8 %.1f tokens/s (%.2fx)%n",
                        r, tf, tq, tq / tf);
                results.add(new BenchResult(
                        "quant", "decode_tokens_per_s_f32", tf, "tokens/s", Machine.describe(Map.of("round", r))));
                results.add(new BenchResult(
                        "quant",
                        "decode_tokens_per_s_int8",
                        tq,
                        "tokens/s",
                        Machine.describe(Map.of("round", r, "ratio", tq / tf))));
            }
        }
        for (BenchResult r : results) {
            System.out.println(r.toJson());
        }
    }

    /** exp of the mean next-token cross-entropy over consecutive windows of the first {@code tokens} + 1 held-out tokens. */
    static double perplexity(LanguageModel model, TokenStream held, int window, long tokens) {
        double sum = 0;
        long count = 0;
        try (var g = GradMode.noGrad()) {
            for (long start = 0; start < tokens; start += window) {
                int t = (int) Math.min(window, tokens - start);
                int[] ids = new int[t + 1];
                for (int i = 0; i <= t; i++) {
                    ids[i] = held.get(start + i);
                }
                try (Scope s = Scope.open()) {
                    Tensor in = Tensor.ofInts(java.util.Arrays.copyOf(ids, t), 1, t)
                            .to(model.module().device());
                    Tensor target = Tensor.ofInts(java.util.Arrays.copyOfRange(ids, 1, t + 1), t)
                            .to(model.module().device());
                    Tensor logits = model.forward(in);
                    sum += Losses.crossEntropy(logits.reshape(t, logits.size(2)), target)
                                    .item()
                            * t;
                    count += t;
                }
            }
        }
        return Math.exp(sum / count);
    }

    private static double decode(LanguageModel model, Tokenizer tok, int[] prompt, int n) {
        long t0 = System.nanoTime();
        Generator.Output out =
                Generator.generate(model, tok, prompt, new Generator.Settings(n, 0, 0, 1, 0, List.of()), null);
        return out.tokens() / ((System.nanoTime() - t0) / 1e9);
    }

    private static long weightBytes(LanguageModel m) {
        long n = 0;
        for (var p : m.module().parameters()) {
            n += p.numel() * p.value().dtype().byteSize();
        }
        return n;
    }
}
