package fulgur.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.avvp.AvvpDataset;
import fulgur.avvp.AvvpEvaluation;
import fulgur.avvp.AvvpMetrics;
import fulgur.avvp.AvvpTrainer;
import fulgur.avvp.Llp;
import fulgur.avvp.SyntheticAvvp;
import fulgur.cli.report.LossCurvePlot;
import fulgur.cli.report.MetricsLog;
import fulgur.io.DirectoryLock;
import fulgur.models.Architectures;
import fulgur.models.leap.LabelEmbeddings;
import fulgur.models.leap.LeapConfig;
import fulgur.models.leap.LeapModel;
import fulgur.train.Checkpoint;
import fulgur.train.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import picocli.CommandLine.ParseResult;

/**
 * `fulgur train --model leap` (or `--task avvp-synthetic`): audio-visual video parsing with LEAP on an LLP directory
 * or the synthetic task, through {@link AvvpTrainer}. Options that only mean something for language models are
 * refused by name rather than ignored.
 */
final class AvvpTrain {
    static final String TASK = "avvp-synthetic";
    private static final List<String> LANGUAGE_MODEL_ONLY = List.of(
            "--shards",
            "--tokenizer",
            "--seq-len",
            "--val-fraction",
            "--eval-batches",
            "--mqar-vocab",
            "--mqar-pairs",
            "--init",
            "--lrpe",
            "--lrpe-all",
            "--untied",
            "--cuda-graph",
            "--sp",
            "--dp",
            "--sp-algo",
            "--backend",
            "--seq-chunk",
            "--checkpoint-activations");
    /** The options that define a LEAP model (--label-embeddings aside, refused on resume). */
    private static final List<String> MODEL_DEFINING = List.of("--config", "--dim", "--layers", "--heads", "--set");

    private AvvpTrain() {}

    /** Whether a train command line asks for audio-visual video parsing. */
    static boolean applies(ModelOptions model, DataOptions data) {
        return "leap".equalsIgnoreCase(model.model) || TASK.equalsIgnoreCase(data.task);
    }

    static AvvpTrainer.Result run(
            ParseResult parsed,
            DataOptions data,
            ModelOptions modelOpts,
            TrainOptions trainOpts,
            AvvpOptions avvp,
            Path out,
            boolean resume,
            boolean allowChanges,
            Double timeLimitMinutes)
            throws IOException {
        for (String o : LANGUAGE_MODEL_ONLY) {
            if (parsed.hasMatchedOption(o)) {
                throw new IllegalArgumentException(
                        o + " applies to language models, not to LEAP (audio-visual video parsing)");
            }
        }
        if (!"leap".equalsIgnoreCase(modelOpts.model) && parsed.hasMatchedOption("--model")) {
            throw new IllegalArgumentException("--task " + TASK
                    + " trains an audio-visual video parsing model: use --model leap (or leave --model out)");
        }
        if (trainOpts.mixedPrecision() != null) {
            throw new IllegalArgumentException(
                    "--precision " + trainOpts.precision + " is not supported for LEAP; it trains in f32");
        }
        Path checkpoint = out.resolve("checkpoint");
        Map<String, Object> saved = resume ? Checkpoint.readState(checkpoint) : null;
        TrainConfig savedSettings = saved == null ? null : TrainConfig.saved(saved);
        if (savedSettings != null) {
            trainOpts.inherit(savedSettings, parsed); // --resume alone continues the run as it was
        }
        TrainConfig cfg = trainOpts.build(1500, 16, Llp.SEGMENTS, 2e-3, 250);
        if (savedSettings != null) {
            TrainCommand.checkResumable(cfg, savedSettings, allowChanges);
        }
        AvvpDataset train;
        AvvpDataset eval;
        Map<String, Object> spec;
        LeapConfig config = resume
                ? parseConfig(Checkpoint.resolve(checkpoint).resolve(Checkpoint.CONFIG))
                : config(parsed, modelOpts);
        if (resume) {
            checkSameModel(config, parsed, modelOpts, TASK.equalsIgnoreCase(data.task), checkpoint);
        }
        if (TASK.equalsIgnoreCase(data.task)) {
            if (!data.data.isEmpty()) {
                throw new IllegalArgumentException("give either --data LLP_DIR or --task " + TASK + ", not both");
            }
            SyntheticAvvp task = new SyntheticAvvp(
                    saved != null ? SyntheticAvvp.fromSpec(cast(saved.get("data_spec"))) : avvp.synthetic());
            train = task.split(SyntheticAvvp.Split.TRAIN);
            eval = task.split(SyntheticAvvp.Split.VAL);
            spec = task.spec();
            if (!resume) {
                config = config.withTask(task.classes().names(), task.settings().dims());
            }
        } else {
            if (data.task != null) {
                throw new IllegalArgumentException("LEAP trains on audio-visual data, not --task " + data.task
                        + ": give --data LLP_DIR or --task " + TASK);
            }
            if (data.data.size() != 1 || !Files.isDirectory(data.data.get(0))) {
                throw new IllegalArgumentException(
                        "LEAP trains on audio-visual data: give --data LLP_DIR (one directory in the LLP layout) or --task "
                                + TASK
                                + (data.data.size() == 1 ? "; " + data.data.get(0) + " is not a directory" : ""));
            }
            Path dir = data.data.get(0);
            train = Llp.read(dir, Llp.Split.TRAIN, config.classes(), config.dims());
            boolean canEvaluate = Files.isRegularFile(dir.resolve(Llp.VAL_CSV))
                    && Files.isRegularFile(dir.resolve(Llp.EVAL_AUDIO_CSV))
                    && Files.isRegularFile(dir.resolve(Llp.EVAL_VISUAL_CSV));
            eval = canEvaluate ? Llp.read(dir, Llp.Split.VAL, config.classes(), config.dims()) : null;
            spec = new LinkedHashMap<>(
                    Map.of("kind", "llp", "dir", dir.toAbsolutePath().toString()));
        }
        LabelEmbeddings labels = null;
        if (avvp.labelEmbeddings != null) {
            if (resume) {
                throw new IllegalArgumentException(
                        "--label-embeddings: a resumed run keeps the embeddings of its checkpoint; drop the option");
            }
            labels = LabelEmbeddings.load(avvp.labelEmbeddings, config.classes());
            config = config.withLabelEmbeddings(LeapConfig.FIXED, labels.dim());
        }
        config = config.validate();
        System.out.println("data: " + train.description()
                + (eval == null
                        ? "; no evaluation set (needs " + Llp.VAL_CSV + " and the eval CSVs)"
                        : "; evaluation on " + eval.description()));
        if (!train.hasPseudoLabels()) {
            System.out.println(
                    "note: no segment pseudo labels: the segment terms learn the video labels on every segment"
                            + (config.avssLossWeight() > 0 ? " and L_avss compares segments by them" : ""));
        }
        // taken before anything is written under OUT: a second run on the same directory stops here
        try (DirectoryLock lock = DirectoryLock.acquire(out, "train", System.out::println);
                LeapModel model = new LeapModel(config, cfg.seed())) {
            if (labels != null) {
                model.setLabelEmbeddings(labels);
            }
            fulgur.tensor.Device device = modelOpts.device();
            if (device.kind() != fulgur.tensor.Device.Kind.CPU) {
                model.module().to(device);
                System.out.println("device: " + device);
            }
            System.out.printf("model: %s, %,d parameters%n", model.describe(), model.parameterCount());
            Path metricsPath = out.resolve("metrics.jsonl");
            if (!resume) {
                Files.createDirectories(out);
                Files.deleteIfExists(metricsPath);
            }
            AvvpTrainer.Result r;
            try (Progress progress = new Progress(metricsPath, cfg.steps(), resume)) {
                AvvpTrainer trainer = new AvvpTrainer(model, cfg, train, eval, spec, out, progress)
                        .outputLock(lock)
                        .allowChangedSettings(allowChanges);
                if (timeLimitMinutes != null) {
                    trainer.timeLimit(timeLimitMinutes * 60);
                }
                r = trainer.run(resume);
            }
            try {
                LossCurvePlot.writeFromMetrics(metricsPath, out.resolve("loss.png"), "LEAP training loss");
            } catch (IOException | RuntimeException | LinkageError e) { // LinkageError: a runtime without java.desktop
                System.out.println("warning: could not draw the loss curve: " + e.getMessage());
            }
            System.out.printf(
                    "done: %d steps%s; outputs in %s%n",
                    r.stepsDone(),
                    r.lastLosses().containsKey("loss")
                            ? String.format(
                                    Locale.ROOT,
                                    ", last train loss %.4f",
                                    r.lastLosses().get("loss"))
                            : "",
                    out.toAbsolutePath());
            if (r.lastEval() != null) {
                System.out.print(AvvpTable.format(List.of(
                        new AvvpTable.Row("LEAP", r.lastEval()),
                        new AvvpTable.Row("video labels everywhere", AvvpEvaluation.videoLabelsEverywhere(eval)))));
            }
            return r;
        }
    }

    /** LEAP's config: --config, or a small model of --dim, --layers (LEAP decoder layers) and --heads (8 unless given); then --set. */
    private static LeapConfig config(ParseResult parsed, ModelOptions m) {
        String json;
        if (m.config != null) {
            json = Architectures.read(m.config);
        } else {
            json = LeapConfig.small(m.dim, m.layers, parsed.hasMatchedOption("--heads") ? m.heads : 8)
                    .toJson();
        }
        if (!m.sets.isEmpty()) {
            ObjectNode n = ModelOptions.parse(json);
            for (String s : m.sets) {
                int eq = s.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("--set expects FIELD=VALUE, got '" + s + "'");
                }
                n.set(s.substring(0, eq), ModelOptions.value(s.substring(eq + 1)));
            }
            json = n.toString();
        }
        try {
            return LeapConfig.parse(json);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException((m.config != null ? m.config + ": " : "") + e.getMessage(), e);
        }
    }

    private static LeapConfig parseConfig(Path file) {
        try {
            return LeapConfig.parse(Files.readString(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage(), e);
        }
    }

    /**
     * A resumed run continues the checkpoint's model: model options given on the command line must describe it (with
     * the defaults of those not given), else they would be ignored without a word. The task's classes and feature sizes
     * (synthetic data) and given label embeddings came from the data, not from these options.
     */
    private static void checkSameModel(
            LeapConfig saved, ParseResult parsed, ModelOptions m, boolean synthetic, Path checkpoint) {
        List<String> given =
                MODEL_DEFINING.stream().filter(parsed::hasMatchedOption).toList();
        if (given.isEmpty()) {
            return;
        }
        LeapConfig wanted = config(parsed, m);
        if (synthetic) {
            wanted = wanted.withTask(saved.classNames(), saved.dims());
        }
        if (LeapConfig.FIXED.equals(saved.labelEmbeddings())) {
            wanted = wanted.withLabelEmbeddings(LeapConfig.FIXED, saved.labelDim());
        }
        ObjectNode a = ModelOptions.parse(saved.toJson());
        ObjectNode b = ModelOptions.parse(wanted.toJson());
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
                    "--resume continues the model of " + checkpoint + ", but the model options given ("
                            + String.join(", ", given) + ", with the defaults of the others) describe a different one: "
                            + String.join(", ", diffs) + "; drop the model options to resume");
        }
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> cast(Object o) {
        return o instanceof Map<?, ?> m ? (Map<String, Object>) m : null;
    }

    /** Prints progress lines and evaluation tables, and writes every step and evaluation to metrics.jsonl. */
    private static final class Progress implements AvvpTrainer.Listener, AutoCloseable {
        private final Path metricsPath;
        private final long steps;
        private final boolean resume;
        private final long every;
        private MetricsLog metrics;
        private final List<Double> window = new ArrayList<>();

        Progress(Path metricsPath, long steps, boolean resume) {
            this.metricsPath = metricsPath;
            this.steps = steps;
            this.resume = resume;
            this.every = Math.max(1, steps / 20);
        }

        @Override
        public void started(long step) {
            try {
                metrics = resume ? MetricsLog.resume(metricsPath, step) : MetricsLog.open(metricsPath);
            } catch (IOException e) {
                throw new UncheckedIOException(metricsPath + ": " + e.getMessage(), e);
            }
            if (resume) {
                System.out.println("resumed at step " + step);
            }
        }

        @Override
        public void step(long step, double lr, Map<String, Double> losses, double gradNorm, double seconds) {
            Map<String, Object> fields = new LinkedHashMap<>(losses);
            fields.put(MetricsLog.LR, lr);
            fields.put("grad_norm", gradNorm);
            fields.put(MetricsLog.STEP_S, seconds);
            write(step, "train", fields);
            window.add(seconds);
            if (step % every == 0 || step == steps) {
                StringBuilder terms = new StringBuilder();
                losses.forEach((k, v) -> {
                    if (!k.equals("loss")) {
                        terms.append(terms.length() == 0 ? "" : ", ")
                                .append(k)
                                .append(' ')
                                .append(String.format(Locale.ROOT, "%.4f", v));
                    }
                });
                double mean = window.stream()
                        .mapToDouble(Double::doubleValue)
                        .average()
                        .orElse(0);
                window.clear();
                System.out.printf(
                        Locale.ROOT,
                        "step %d/%d  loss %.4f (%s)  lr %.2e  %.3f s/step%n",
                        step,
                        steps,
                        losses.get("loss"),
                        terms,
                        lr,
                        mean);
            }
        }

        @Override
        public void message(String line) {
            System.out.println(line);
        }

        @Override
        public void evaluated(long step, AvvpMetrics.Scores s) {
            Map<String, Object> fields = new LinkedHashMap<>();
            fields.put("segment_audio_f1", s.segment().audio());
            fields.put("segment_visual_f1", s.segment().visual());
            fields.put("segment_av_f1", s.segment().audioVisual());
            fields.put("segment_type_av_f1", s.segment().typeAv());
            fields.put("segment_event_av_f1", s.segment().eventAv());
            fields.put("event_audio_f1", s.event().audio());
            fields.put("event_visual_f1", s.event().visual());
            fields.put("event_av_f1", s.event().audioVisual());
            fields.put("event_type_av_f1", s.event().typeAv());
            fields.put("event_event_av_f1", s.event().eventAv());
            write(step, "val", fields);
            System.out.printf(
                    Locale.ROOT,
                    "step %d  val: segment-level Type@AV %.1f, Event@AV %.1f; event-level Type@AV %.1f, Event@AV %.1f%n",
                    step,
                    100 * s.segment().typeAv(),
                    100 * s.segment().eventAv(),
                    100 * s.event().typeAv(),
                    100 * s.event().eventAv());
        }

        private void write(long step, String split, Map<String, Object> fields) {
            try {
                metrics.log(step, split, fields);
            } catch (IOException e) {
                throw new UncheckedIOException(metricsPath + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() throws IOException {
            if (metrics != null) {
                metrics.close();
            }
        }
    }
}
