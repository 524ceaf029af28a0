package fulgur.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ReferenceCheckpoint;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Options that define a model: an architecture and a config.json, or a few sizes plus field overrides. */
final class ModelOptions {
    @Option(
            names = "--model",
            defaultValue = "tnl",
            description = "Architecture (${COMPLETION-CANDIDATES}). Default: ${DEFAULT-VALUE}.",
            completionCandidates = ArchitectureNames.class)
    String model;

    @Option(
            names = "--config",
            description =
                    "A config.json in the architecture's reference field names (its model_type picks the architecture); overrides --model and the size options.")
    Path config;

    @Option(
            names = "--init",
            paramLabel = "DIR",
            description =
                    "Start from the weights and config of a trained model: a run directory, a checkpoint, or a reference (Hugging Face) checkpoint.")
    Path init;

    @Option(names = "--dim", defaultValue = "128", description = "Model width. Default: ${DEFAULT-VALUE}.")
    int dim;

    @Option(names = "--layers", defaultValue = "2", description = "Number of layers. Default: ${DEFAULT-VALUE}.")
    int layers;

    @Option(names = "--heads", defaultValue = "4", description = "Heads. Default: ${DEFAULT-VALUE}.")
    int heads;

    @Option(
            names = "--set",
            paramLabel = "FIELD=VALUE",
            description =
                    "Set a config.json field (a JSON value, or else a string), e.g. --set expand_ratio=64. Repeatable.")
    List<String> sets = new ArrayList<>();

    @Option(names = "--lrpe", description = "TNL: use LRPE in the first layer (the official 'Mix' setting).")
    boolean lrpe;

    @Option(names = "--lrpe-all", description = "TNL: use LRPE in every layer.")
    boolean lrpeAll;

    @Option(names = "--untied", description = "Separate output head instead of tying it to the embedding.")
    boolean untied;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device = "cpu";

    /** The model-defining options given on the command line ({@link #MODEL_DEFINING}), for a resumed run to check. */
    List<String> given = List.of();

    fulgur.tensor.Device device() {
        return fulgur.tensor.Device.parse(device);
    }

    /** The model {@link #build} made while checking the config: handed to the first {@link #create} that asks for it. */
    private LanguageModel prepared;

    private long preparedSeed;

    /**
     * The model to train: {@code --init}'s weights, or freshly initialised from {@code configJson}. Synchronized: the
     * local backend's ranks call it from their threads at once, and only one of them may take the prepared model.
     */
    synchronized LanguageModel create(String configJson, long seed) {
        if (prepared != null && prepared.configJson().equals(configJson) && (init != null || preparedSeed == seed)) {
            LanguageModel m = prepared;
            prepared = null;
            return m;
        }
        if (init == null) {
            return Architectures.forConfig(configJson).build(configJson, seed);
        }
        LanguageModel m = loadInit();
        if (!m.configJson().equals(configJson)) {
            m.close();
            throw new IllegalArgumentException("--init " + init
                    + " holds a different model than the one configured (drop --config/--set with --init)");
        }
        return m;
    }

    /**
     * The config.json text of the model to train, for a tokenizer of {@code vocab} tokens. The model built (with
     * {@code seed}) or loaded ({@code --init}) to check it is kept for {@link #create}, so it is made only once.
     */
    String build(int vocab, long seed) {
        String json;
        LanguageModel loaded = null;
        if (init != null) {
            if (config != null) {
                throw new IllegalArgumentException("--init takes the model's config from " + init + "; drop --config");
            }
            loaded = loadInit();
            json = loaded.configJson();
        } else if (config != null) {
            json = Architectures.read(config);
        } else {
            Architecture a = Architectures.byName(model);
            ObjectNode n = parse(a.smallConfig(vocab, dim, layers, heads));
            if (a.name().equals("tnl") && (lrpe || lrpeAll)) {
                var flags = n.putArray("linear_use_lrpe_list");
                for (int i = 0; i < layers; i++) {
                    flags.add(i == 0 || lrpeAll ? 1 : 0);
                }
            }
            if (untied) {
                n.put("tie_word_embeddings", false);
            }
            json = n.toString();
        }
        if (!sets.isEmpty()) {
            ObjectNode n = parse(json);
            for (String s : sets) {
                int eq = s.indexOf('=');
                if (eq <= 0) {
                    if (loaded != null) {
                        loaded.close();
                    }
                    throw new IllegalArgumentException("--set expects FIELD=VALUE, got '" + s + "'");
                }
                n.set(s.substring(0, eq), value(s.substring(eq + 1)));
            }
            json = n.toString();
            if (loaded != null) {
                loaded.close(); // an edited config is no longer --init's model: create() reports the mismatch
                loaded = null;
            }
        }
        String where = config != null ? config + ": " : "";
        LanguageModel m;
        try {
            m = loaded != null ? loaded : Architectures.forConfig(json).build(json, seed);
        } catch (IllegalArgumentException e) {
            throw e.getMessage().startsWith(where) ? e : new IllegalArgumentException(where + e.getMessage(), e);
        }
        if (m.vocabSize() < vocab) {
            m.close();
            throw new IllegalArgumentException(
                    where + "vocab_size " + m.vocabSize() + " is smaller than the tokenizer's " + vocab);
        }
        try {
            checkSetFields(m);
        } catch (IllegalArgumentException e) {
            m.close();
            throw e;
        }
        if (init != null && loaded == null) {
            String checked = m.configJson();
            m.close(); // checked only: create() loads --init and reports whether it differs
            return checked;
        }
        prepared = m;
        preparedSeed = seed;
        return m.configJson();
    }

    /**
     * Every {@code --set} field must be one the architecture's config has (it writes them all back, but for unset
     * optional ones): a misspelt field would otherwise be ignored without a word.
     */
    private void checkSetFields(LanguageModel m) {
        ObjectNode canonical = parse(m.configJson());
        for (String s : sets) {
            String field = s.substring(0, s.indexOf('='));
            if (!canonical.has(field) && !value(s.substring(s.indexOf('=') + 1)).isNull()) {
                List<String> known = new ArrayList<>();
                canonical.fieldNames().forEachRemaining(known::add);
                throw new IllegalArgumentException(
                        "--set " + field + ": the " + m.describe().split(",")[0] + " config has no field '" + field
                                + "' (its fields: " + String.join(", ", known) + ")");
            }
        }
    }

    /** The options of this mixin that define the model (all but --device). */
    static final List<String> MODEL_DEFINING = List.of(
            "--model",
            "--config",
            "--init",
            "--dim",
            "--layers",
            "--heads",
            "--set",
            "--lrpe",
            "--lrpe-all",
            "--untied");

    /**
     * The config of the model a resumed run continues: the checkpoint's. When {@code given} (the options given on the
     * command line) defines a model, it must be the checkpoint's: the options would otherwise be ignored.
     */
    String resumed(Path checkpointDir, int vocab, long seed, List<String> given) {
        String saved = Architectures.read(
                fulgur.train.Checkpoint.resolve(checkpointDir).resolve(fulgur.train.Checkpoint.CONFIG));
        if (given.isEmpty()) {
            return saved;
        }
        if (given.contains("--init")) {
            throw new IllegalArgumentException(
                    "--resume takes the weights from " + checkpointDir + ", --init from " + init + ": drop --init");
        }
        String wanted = build(vocab, seed);
        if (prepared != null) {
            prepared.close();
            prepared = null;
        }
        ObjectNode a = parse(saved);
        ObjectNode b = parse(wanted);
        List<String> diffs = new ArrayList<>();
        java.util.Set<String> fields = new java.util.LinkedHashSet<>();
        a.fieldNames().forEachRemaining(fields::add);
        b.fieldNames().forEachRemaining(fields::add);
        for (String f : fields) {
            if (!java.util.Objects.equals(a.get(f), b.get(f))) {
                diffs.add(f + " " + b.get(f) + " (checkpoint: " + a.get(f) + ")");
            }
        }
        if (!diffs.isEmpty()) {
            throw new IllegalArgumentException(
                    "--resume continues the model of " + checkpointDir + ", but the model options given ("
                            + String.join(", ", given) + ", with the defaults of the others) describe a different one: "
                            + String.join(", ", diffs) + "; drop the model options to resume");
        }
        return saved;
    }

    private LanguageModel loadInit() {
        try {
            return ReferenceCheckpoint.load(init);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("--init " + init + ": " + e.getMessage(), e);
        }
    }

    static ObjectNode parse(String json) {
        try {
            JsonNode n = Json.mapper().readTree(json);
            if (n instanceof ObjectNode o) {
                return o;
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("malformed config.json: " + e.getMessage(), e);
        }
        throw new IllegalArgumentException("config.json is not a JSON object");
    }

    static JsonNode value(String text) {
        try {
            return Json.mapper().readTree(text);
        } catch (IOException e) {
            return Json.mapper().getNodeFactory().textNode(text);
        }
    }

    /** Architecture names for the help text. */
    static final class ArchitectureNames implements Iterable<String> {
        @Override
        public java.util.Iterator<String> iterator() {
            // leap parses audio-visual video (AvvpTrain), the others are language models
            return java.util.stream.Stream.concat(
                            Architectures.all().stream().map(Architecture::name), java.util.stream.Stream.of("leap"))
                    .iterator();
        }
    }
}
