package fulgur.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * fulgur's decoding beside Jlama's on the same weights: writes a random-weight TNL and Llama of the same shape
 * ({@link DecodeModels}: Hugging Face directories from fulgur's reference-layout writer, with a tokenizer.json both
 * engines read), then, round after round and context after context, runs fulgur on the TNL, fulgur on the Llama
 * ({@link DecodeSpeed}) and Jlama on the same Llama directory ({@link JlamaDecodeSpeed}), each in a fresh JVM so that
 * each process's peak resident set is its own, in an order that alternates from one round to the next. Prints one
 * line per engine run as it ends and a Markdown table: tokens/s at batch 1 and 16, the ratios, peak RSS, the load
 * average before each run.
 *
 * <p>{@code DecodeJlamaPeer [--dir target/decode-peer] [--contexts 256,1024,4096] [--tokens 32] [--rounds 3]
 * [--vocab 32000] [--dim 768] [--layers 12] [--heads 12] [--threads 2] [--fulgur-llama-max-context 0]
 * [--jlama-max-context 0]}. Run it with {@code scripts/decode-jlama-peer.sh}. A maximum context N > 0 runs that Llama
 * engine only up to N tokens (the prefill of a softmax model grows with the square of the context, and fulgur's Llama
 * gathers its paged cache into one tensor per step: 7 GB resident at 4K); where Jlama did not run, the TNL stands
 * beside Jlama's figure at the longest context it ran in that round, marked "(at N)".
 * Jlama 0.8.4 splits its MLP over its threads in vector-wide pieces: an MLP width that is not a multiple of
 * 16 lanes × threads (width 64 gives 168) sometimes fails inside Jlama with an IndexOutOfBoundsException.
 */
public final class DecodeJlamaPeer {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String[] ENGINES = {"fulgur-tnl", "fulgur-llama", "jlama-llama"};

    private DecodeJlamaPeer() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> defaults = new LinkedHashMap<>(Map.of(
                "dir",
                "target/decode-peer",
                "contexts",
                "256,1024,4096",
                "tokens",
                "32",
                "rounds",
                "3",
                "vocab",
                "32000",
                "dim",
                "768",
                "layers",
                "12",
                "heads",
                "12",
                "threads",
                "2"));
        defaults.put("fulgur-llama-max-context", "0");
        defaults.put("jlama-max-context", "0");
        Map<String, String> o = DecodeSpeed.options(args, defaults, List.of());
        Map<String, Integer> maxContext = Map.of(
                "fulgur-tnl",
                0,
                "fulgur-llama",
                Integer.parseInt(o.get("fulgur-llama-max-context")),
                "jlama-llama",
                Integer.parseInt(o.get("jlama-max-context")));
        DecodeModels shape = new DecodeModels(
                Integer.parseInt(o.get("vocab")),
                Integer.parseInt(o.get("dim")),
                Integer.parseInt(o.get("layers")),
                Integer.parseInt(o.get("heads")));
        Path[] dirs = shape.write(Path.of(o.get("dir")), 1);
        System.out.printf(
                "models: %s; Jlama %s; %d threads each%n",
                shape, JlamaDecodeSpeed.version(), Integer.parseInt(o.get("threads")));
        List<String> table = new ArrayList<>();
        table.add(
                "| round | context | load (1 min) | TNL b1 | Llama b1 | Jlama b1 | **TNL / Jlama b1** | Llama / Jlama b1 | TNL b16 | Llama b16 "
                        + "| **TNL b16 / Jlama** | peak RSS TNL | peak RSS Llama | peak RSS Jlama | greedy ids Llama = Jlama |");
        table.add(
                "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
        int rounds = Integer.parseInt(o.get("rounds"));
        for (int r = 1; r <= rounds; r++) {
            // Jlama at the largest context it ran this round: the peer of the TNL at longer contexts
            Map<String, JsonNode> jlamaLongest = null;
            int jlamaContext = 0;
            for (String ctx : o.get("contexts").split(",")) {
                int context = Integer.parseInt(ctx.strip());
                Map<String, Map<String, JsonNode>> got = new LinkedHashMap<>();
                Map<String, Double> loads = new LinkedHashMap<>();
                for (int e = 0; e < ENGINES.length; e++) {
                    String engine = ENGINES[r % 2 == 1 ? e : ENGINES.length - 1 - e];
                    if (maxContext.get(engine) > 0 && context > maxContext.get(engine)) {
                        continue;
                    }
                    loads.put(engine, load());
                    Path dir = engine.equals("fulgur-tnl") ? dirs[0] : dirs[1];
                    got.put(engine, runChild(engine, dir, context, o));
                    System.out.printf(
                            Locale.ROOT,
                            "round %d, context %d, %s (load %.2f): %s%n",
                            r,
                            context,
                            engine,
                            loads.get(engine),
                            summary(got.get(engine)));
                }
                int jlamaAt = 0;
                if (got.containsKey("jlama-llama")) {
                    jlamaLongest = got.get("jlama-llama");
                    jlamaContext = context;
                } else if (jlamaLongest != null) {
                    got.put("jlama-llama", jlamaLongest);
                    jlamaAt = jlamaContext;
                }
                table.add(row(r, context, loads, got, jlamaAt));
                System.out.println(table.getLast());
            }
        }
        System.out.println();
        table.forEach(System.out::println);
    }

    /**
     * One row of the table; an engine that did not run at this context has "–". {@code jlamaAt} > 0: Jlama did not run
     * at this context, and its figures are those it had at {@code jlamaAt} tokens in the same round (marked so; its
     * rate only falls with the context).
     */
    private static String row(
            int round, int context, Map<String, Double> loads, Map<String, Map<String, JsonNode>> got, int jlamaAt) {
        boolean llama = got.containsKey("fulgur-llama");
        double tnl1 = value(got.get("fulgur-tnl"), "b1");
        double llama1 = llama ? value(got.get("fulgur-llama"), "b1") : Double.NaN;
        double jlama1 = got.containsKey("jlama-llama") ? value(got.get("jlama-llama"), "b1") : Double.NaN;
        double tnl16 = value(got.get("fulgur-tnl"), "b16");
        double llama16 = llama ? value(got.get("fulgur-llama"), "b16") : Double.NaN;
        String sameIds = llama && jlamaAt == 0 && got.containsKey("jlama-llama")
                ? String.valueOf(ids(got.get("fulgur-llama")).equals(ids(got.get("jlama-llama"))))
                : "–";
        String at = jlamaAt > 0 ? " (at " + jlamaAt + ")" : "";
        double lo =
                loads.values().stream().mapToDouble(Double::doubleValue).min().orElse(0);
        double hi =
                loads.values().stream().mapToDouble(Double::doubleValue).max().orElse(0);
        return String.format(
                Locale.ROOT,
                "| %d | %d | %.1f–%.1f | %.2f | %s | %s%s | **%s** | %s | %.2f | %s | **%s** | %s | %s | %s | %s |",
                round,
                context,
                lo,
                hi,
                tnl1,
                num(llama1),
                num(jlama1),
                at,
                times(tnl1 / jlama1),
                times(llama1 / jlama1),
                tnl16,
                num(llama16),
                times(tnl16 / jlama1),
                mib(got.get("fulgur-tnl")),
                llama ? mib(got.get("fulgur-llama")) : "–",
                jlamaAt > 0 || !got.containsKey("jlama-llama") ? "–" : mib(got.get("jlama-llama")),
                sameIds);
    }

    private static String num(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.2f", v);
    }

    private static String times(double v) {
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.2f×", v);
    }

    /** Runs one engine in a JVM of its own; its figures by key (b1, b16, rss, heap, prefill). */
    private static Map<String, JsonNode> runChild(String engine, Path dir, int context, Map<String, String> o)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--add-modules",
                "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED",
                "-XX:+UseParallelGC",
                "-Xmx8g",
                "-Dfulgur.threads=" + o.get("threads"),
                "-cp",
                System.getProperty("java.class.path")));
        if (engine.startsWith("jlama")) {
            cmd.addAll(List.of(JlamaDecodeSpeed.class.getName(), "--threads", o.get("threads")));
        } else {
            cmd.add(DecodeSpeed.class.getName());
        }
        cmd.addAll(List.of(
                "--model", dir.toString(), "--context", Integer.toString(context), "--tokens", o.get("tokens")));
        Path log = Files.createTempFile("decode-" + engine, ".log");
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        String stdout = new String(p.getInputStream().readAllBytes());
        int rc = p.waitFor();
        if (rc != 0) {
            // the first line that names an exception says what went wrong; the whole log stays for the rest
            String first = Files.readAllLines(log).stream()
                    .filter(l -> l.contains("Exception") || l.contains("Error"))
                    .findFirst()
                    .orElse("(no message)");
            System.err.println(engine + " at context " + context + " exited with " + rc + ": " + first.strip()
                    + " (log: " + log + ")");
            System.exit(1);
        }
        Files.deleteIfExists(log);
        Map<String, JsonNode> out = new LinkedHashMap<>();
        for (String line : stdout.split("\n")) {
            if (!line.startsWith("{")) {
                continue;
            }
            JsonNode n = JSON.readTree(line);
            String metric = n.get("metric").asText();
            String key = switch (metric) {
                case "tokens_per_s" -> "b" + n.get("extra").get("batch").asInt();
                case "peak_rss_bytes" -> "rss";
                case "peak_heap_bytes" -> "heap";
                case "prefill_s" -> "prefill";
                default -> metric;
            };
            out.put(key, n);
        }
        return out;
    }

    private static String summary(Map<String, JsonNode> m) {
        StringBuilder sb = new StringBuilder();
        m.forEach((k, n) -> sb.append(
                String.format(Locale.ROOT, "%s=%.4g ", k, n.get("value").asDouble())));
        JsonNode b1 = m.get("b1");
        if (b1 != null && b1.get("extra").has("greedy_ids")) {
            sb.append("greedy=").append(b1.get("extra").get("greedy_ids").asText());
        }
        return sb.toString().strip();
    }

    private static double value(Map<String, JsonNode> m, String key) {
        JsonNode n = m.get(key);
        return n == null ? Double.NaN : n.get("value").asDouble();
    }

    private static String ids(Map<String, JsonNode> m) {
        JsonNode n = m.get("b1");
        return n == null || !n.get("extra").has("greedy_ids")
                ? ""
                : n.get("extra").get("greedy_ids").asText();
    }

    private static String mib(Map<String, JsonNode> m) {
        double v = value(m, "rss");
        return Double.isNaN(v) ? "–" : String.format(Locale.ROOT, "%.0f MiB", v / (1 << 20));
    }

    /** The 1-minute load average ({@code uptime}'s first figure). */
    private static double load() {
        try {
            return Double.parseDouble(Files.readString(Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (IOException | RuntimeException e) {
            return Double.NaN;
        }
    }
}
