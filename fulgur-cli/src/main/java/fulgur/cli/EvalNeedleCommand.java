package fulgur.cli;

import fulgur.cli.report.NeedleHeatmap;
import fulgur.eval.Passkey;
import fulgur.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "needle",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Passkey retrieval (needle in a haystack): a random 5-digit key hidden at several depths of filler text of several lengths, "
                    + "recovered by greedy decoding. Prints the accuracy table and writes a depth x length heatmap PNG.",
            "Lengths take K and M suffixes (1K = 1024 tokens); a recurrent model reads even 1M tokens in constant memory.",
            "Example: fulgur eval needle --model-dir runs/mine --lengths 1K,4K,16K,64K,256K,1M --depths 0,0.25,0.5,0.75,1 --out needle.png"
        })
public final class EvalNeedleCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            paramLabel = "DIR",
            description = "A training output directory, a checkpoint, or a reference checkpoint.")
    Path dir;

    @Option(
            names = "--lengths",
            split = ",",
            defaultValue = "1K,2K,4K,8K",
            description = "Context lengths in tokens. Default: ${DEFAULT-VALUE}.")
    List<String> lengths;

    @Option(
            names = "--depths",
            split = ",",
            defaultValue = "0,0.25,0.5,0.75,1",
            description = "Depths of the key in the filler, 0 (start) to 1 (end). Default: ${DEFAULT-VALUE}.")
    List<Double> depths;

    @Option(names = "--trials", defaultValue = "3", description = "Keys per cell. Default: ${DEFAULT-VALUE}.")
    int trials;

    @Option(
            names = "--filler",
            paramLabel = "FILE",
            description = "A text file whose text is the haystack (default: the passkey paper's repeated sentences).")
    Path filler;

    @Option(
            names = "--chunk",
            defaultValue = "1024",
            description = "Tokens per forward pass while reading the prompt. Default: ${DEFAULT-VALUE}.")
    int chunk;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the keys. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--out", defaultValue = "needle.png", description = "The heatmap PNG. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(
            names = "--tokenizer",
            description = "byte, a tokenizer.json or tokenizer.model (default: the model directory's).")
    String tokenizer;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--json", description = "Print the cells as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<Integer> ls = new ArrayList<>();
        for (String l : lengths) {
            ls.add(parseLength(l));
        }
        String haystack = null;
        if (filler != null) {
            if (!Files.isRegularFile(filler)) {
                throw new IllegalArgumentException("--filler: no such file: " + filler);
            }
            haystack = Files.readString(filler);
        }
        Passkey.Settings s = new Passkey.Settings(ls, depths, trials, seed, chunk, haystack);
        try (EvalModel m = EvalModel.open(dir, tokenizer, device)) {
            if (!json) {
                System.out.println("model: " + m.model().describe() + "; " + trials + " keys per cell");
            }
            List<Passkey.Cell> cells = Passkey.evaluate(m.model(), m.tokenizer(), s, c -> {
                if (!json) {
                    System.out.printf(
                            "  length %,9d  depth %4.0f %%  %d/%d%n",
                            c.length(), 100 * c.depth(), c.correct(), c.trials());
                }
            });
            NeedleHeatmap.write(out, "passkey retrieval: " + m.model().describe(), cells);
            if (json) {
                List<Map<String, Object>> rows = new ArrayList<>();
                for (Passkey.Cell c : cells) {
                    Map<String, Object> r = new LinkedHashMap<>();
                    r.put("length", c.length());
                    r.put("depth", c.depth());
                    r.put("correct", c.correct());
                    r.put("trials", c.trials());
                    rows.add(r);
                }
                System.out.println(Json.mapper()
                        .writer()
                        .without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                        .writeValueAsString(rows));
            } else {
                System.out.print(NeedleHeatmap.table(cells));
                System.out.println("heatmap: " + out.toAbsolutePath());
            }
        }
        return 0;
    }

    /** A token count: digits with an optional K (×1024) or M (×1024²) suffix. */
    static int parseLength(String s) {
        var m = java.util.regex.Pattern.compile("(\\d+)([kKmM]?)").matcher(s.trim());
        if (!m.matches()) {
            throw new IllegalArgumentException("--lengths: '" + s + "' is not a token count like 4096, 4K or 1M");
        }
        long v = Long.parseLong(m.group(1))
                * switch (m.group(2).toUpperCase(java.util.Locale.ROOT)) {
                    case "K" -> 1024L;
                    case "M" -> 1024L * 1024;
                    default -> 1L;
                };
        if (v <= 0 || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("--lengths: '" + s + "' is out of range");
        }
        return (int) v;
    }
}
