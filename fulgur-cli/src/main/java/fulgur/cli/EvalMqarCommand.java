package fulgur.cli;

import fulgur.data.Mqar;
import fulgur.eval.MqarRecall;
import fulgur.io.Json;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.train.Checkpoint;
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
        name = "mqar",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "MQAR recall accuracy of a trained checkpoint on held-out sequences, as a table over key-value pairs and sequence lengths.",
            "The vocabulary, pairs and length default to those the run was trained with (from its trainer state).",
            "Example: fulgur eval mqar --model-dir runs/mqar --pairs 4,8,16 --seq-len 64,128"
        })
public final class EvalMqarCommand implements Callable<Integer> {
    @Option(
            names = "--model-dir",
            required = true,
            paramLabel = "DIR",
            description = "A training output directory or its checkpoint.")
    Path dir;

    @Option(names = "--pairs", split = ",", description = "Key-value pairs per sequence (default: the training run's).")
    List<Integer> pairs;

    @Option(names = "--seq-len", split = ",", description = "Sequence lengths (default: the training run's).")
    List<Integer> seqLens;

    @Option(names = "--mqar-vocab", description = "MQAR vocabulary (default: the training run's, else the model's).")
    Integer vocab;

    @Option(
            names = "--examples",
            defaultValue = "512",
            description = "Held-out sequences per cell. Default: ${DEFAULT-VALUE}.")
    int examples;

    @Option(
            names = "--batch-size",
            defaultValue = "64",
            description = "Sequences per forward pass. Default: ${DEFAULT-VALUE}.")
    int batchSize;

    @Option(
            names = "--seed",
            defaultValue = "7",
            description = "Seed of the held-out sequences. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(names = "--json", description = "Print the table as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (examples <= 0 || batchSize <= 0) {
            throw new IllegalArgumentException("--examples and --batch-size must be > 0");
        }
        Map<String, Object> trained = trainedSpec(dir);
        try (LanguageModel model = ReferenceCheckpoint.load(dir)) {
            fulgur.tensor.Device d = fulgur.tensor.Device.parse(device);
            if (d.kind() != fulgur.tensor.Device.Kind.CPU) {
                model.module().to(d);
            }
            int v = vocab != null
                    ? vocab
                    : trained.get("vocab_size") instanceof Number n ? n.intValue() : model.vocabSize();
            List<Integer> ps = pairs != null ? pairs : List.of(intOr(trained, "num_kv_pairs", 8));
            List<Integer> ls = seqLens != null ? seqLens : List.of(intOr(trained, "seq_len", 128));
            List<Map<String, Object>> rows = new ArrayList<>();
            if (!json) {
                System.out.println("model: " + model.describe() + "; MQAR vocabulary " + v + ", " + examples
                        + " held-out sequences per cell");
                System.out.printf(
                        "| pairs | %s |%n",
                        String.join(" | ", ls.stream().map(l -> "length " + l).toList()));
                System.out.printf("|---|%s%n", "---|".repeat(ls.size()));
            }
            for (int p : ps) {
                StringBuilder line = new StringBuilder("| " + p + " |");
                for (int l : ls) {
                    Mqar.Config c = Mqar.Config.of(v, l, p);
                    double acc = MqarRecall.accuracy(model, c, examples, batchSize, seed);
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("pairs", p);
                    row.put("seq_len", l);
                    row.put("vocab_size", v);
                    row.put("accuracy", acc);
                    rows.add(row);
                    line.append(String.format(" %.1f %% |", 100 * acc));
                }
                if (!json) {
                    System.out.println(line);
                }
            }
            if (json) {
                System.out.println(Json.mapper()
                        .writer()
                        .without(com.fasterxml.jackson.databind.SerializationFeature.INDENT_OUTPUT)
                        .writeValueAsString(rows));
            }
        }
        return 0;
    }

    private static int intOr(Map<String, Object> m, String key, int otherwise) {
        return m.get(key) instanceof Number n ? n.intValue() : otherwise;
    }

    /** The MQAR settings a run was trained with, from its trainer state (empty when it has none). */
    @SuppressWarnings("unchecked")
    static Map<String, Object> trainedSpec(Path dir) {
        for (Path c : List.of(dir.resolve("checkpoint"), dir)) {
            try {
                Path ck = Checkpoint.resolve(c);
                Map<String, Object> st =
                        Json.mapper().readValue(Files.readString(ck.resolve(Checkpoint.STATE)), Map.class);
                Map<String, Object> out = new LinkedHashMap<>();
                if (st.get("data") instanceof Map<?, ?> data && data.get("config") instanceof Map<?, ?> cfg) {
                    out.putAll((Map<String, Object>) cfg);
                }
                return out;
            } catch (IllegalArgumentException | java.io.IOException e) {
                // not a training checkpoint: no defaults from it
            }
        }
        return Map.of();
    }
}
