package fulgur.cli;

import fulgur.cli.report.RunReport;
import fulgur.io.DirectoryLock;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.models.hf.ModelDirectory;
import fulgur.train.Checkpoint;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;

@Command(
        name = "train",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Train a language model on text, token shards or MQAR, or LEAP (--model leap) on audio-visual video parsing.",
            "Writes OUT/checkpoint (safetensors + config.json + optimizer + trainer state), OUT/metrics.jsonl and OUT/loss.png.",
            "Example: fulgur train --data corpus.txt --steps 2000 --out runs/shakespeare",
            "Distributed: --sp N --dp M [--ep E] (local backend: N·M·E ranks as threads of this process; nccl: under 'fulgur launch'),",
            "  with --zero 1|2 (sharded optimizer) or --dp-algo co2 --co2-tau 12 (CO2).",
            "LEAP: fulgur train --model leap --data LLP_DIR (or --task avvp-synthetic) --out runs/leap; then fulgur eval avvp --model-dir runs/leap ..."
        })
public final class TrainCommand implements Callable<Integer> {
    @Mixin
    DataOptions dataOptions = new DataOptions();

    @Mixin
    ModelOptions modelOptions = new ModelOptions();

    @Mixin
    TrainOptions trainOptions = new TrainOptions();

    @Mixin
    ParallelOptions parallelOptions = new ParallelOptions();

    @Mixin
    AvvpOptions avvpOptions = new AvvpOptions();

    @Spec
    CommandSpec spec;

    @Option(names = "--out", defaultValue = "runs/train", description = "Output directory. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(
            names = "--resume",
            description =
                    "Continue from OUT/checkpoint: the same model and data; settings not given take the checkpoint's values.")
    boolean resume;

    @Option(
            names = "--allow-changes",
            description =
                    "With --resume: continue even though settings given differ from the checkpoint's "
                            + "(--lr, --batch-size, --seq-len, --schedule, ...), which is otherwise refused. --steps, --eval-every and --checkpoint-every may always change.")
    boolean allowChanges;

    @Option(names = "--time-limit", description = "Stop after this many minutes (evaluating and checkpointing first).")
    Double timeLimitMinutes;

    @Override
    public Integer call() throws Exception {
        if (timeLimitMinutes != null && !(timeLimitMinutes > 0 && timeLimitMinutes < Double.POSITIVE_INFINITY)) {
            throw new IllegalArgumentException(
                    "--time-limit must be a positive number of minutes, got " + timeLimitMinutes);
        }
        ParseResult given = spec.commandLine().getParseResult();
        if (allowChanges && !resume) {
            throw new IllegalArgumentException("--allow-changes only applies with --resume");
        }
        if (AvvpTrain.applies(modelOptions, dataOptions)) { // LEAP is no language model: its own data, loop and scores
            return AvvpTrain.run(
                                    given,
                                    dataOptions,
                                    modelOptions,
                                    trainOptions,
                                    avvpOptions,
                                    out,
                                    resume,
                                    allowChanges,
                                    timeLimitMinutes)
                            != null
                    ? 0
                    : 1;
        }
        parallelOptions.validate();
        dataOptions.validate(); // before OUT is created and locked
        TrainConfig saved = resume ? savedSettings(out) : null;
        if (saved != null) {
            trainOptions.inherit(saved, given);
        }
        TrainConfig cfg = trainOptions.build(1000, 16, 128, 3e-3, 100);
        if (saved != null) {
            checkResumable(cfg, saved, allowChanges);
        }
        modelOptions.given = ModelOptions.MODEL_DEFINING.stream()
                .filter(given::hasMatchedOption)
                .toList();
        fulgur.tensor.DType precision = trainOptions.mixedPrecision();
        int seqChunk = trainOptions.sequenceChunk();
        if (trainOptions.cudaGraph && modelOptions.device().kind() != fulgur.tensor.Device.Kind.CUDA) {
            throw new IllegalArgumentException(
                    "--cuda-graph needs the model on a GPU (--device cuda), got --device " + modelOptions.device());
        }
        if (parallelOptions.distributed()) {
            if (trainOptions.cudaGraph) {
                throw new IllegalArgumentException("--cuda-graph is not supported with --sp/--dp yet");
            }
            if (trainOptions.checkpointActivations) {
                throw new IllegalArgumentException("--checkpoint-activations is not supported with --sp/--dp yet");
            }
            return DistTrain.run(
                                    dataOptions,
                                    modelOptions,
                                    parallelOptions,
                                    cfg,
                                    seqChunk,
                                    out,
                                    resume,
                                    allowChanges,
                                    precision)
                            != null
                    ? 0
                    : 1;
        }
        return run(
                                dataOptions,
                                modelOptions,
                                cfg,
                                out,
                                resume,
                                allowChanges,
                                timeLimitMinutes,
                                precision,
                                trainOptions.cudaGraph,
                                seqChunk,
                                trainOptions.checkpointActivations)
                        != null
                ? 0
                : 1;
    }

    /** The settings OUT/checkpoint was trained with (null for a checkpoint that did not record them). */
    static TrainConfig savedSettings(Path out) throws java.io.IOException {
        return TrainConfig.saved(Checkpoint.readState(out.resolve("checkpoint")));
    }

    /** Refuses settings given on the command line that differ from the checkpoint's (each named), unless allowed. */
    static void checkResumable(TrainConfig cfg, TrainConfig saved, boolean allowChanges) {
        var conflicts = cfg.resumeConflicts(saved);
        if (!conflicts.isEmpty() && !allowChanges) {
            throw new IllegalArgumentException("--resume: "
                    + conflicts.stream().map(TrainOptions::describe).collect(java.util.stream.Collectors.joining(", "))
                    + " differ from the checkpoint's settings; drop " + (conflicts.size() == 1 ? "it" : "them")
                    + " to continue the run as it was, or add --allow-changes to continue under the new settings");
        }
    }

    static Trainer.Result run(
            DataOptions data,
            ModelOptions modelOpts,
            TrainConfig cfg,
            Path out,
            boolean resume,
            boolean allowChanges,
            Double timeLimitMinutes,
            fulgur.tensor.DType precision,
            boolean cudaGraph)
            throws Exception {
        return run(data, modelOpts, cfg, out, resume, allowChanges, timeLimitMinutes, precision, cudaGraph, 0, false);
    }

    static Trainer.Result run(
            DataOptions data,
            ModelOptions modelOpts,
            TrainConfig cfg,
            Path out,
            boolean resume,
            boolean allowChanges,
            Double timeLimitMinutes,
            fulgur.tensor.DType precision,
            boolean cudaGraph,
            int seqChunk,
            boolean checkpointActivations)
            throws Exception {
        fulgur.tensor.Device device = modelOpts.device();
        data.tokenizerDefaultFrom = modelOpts.init;
        // taken before anything is written under OUT: a second run on the same directory stops here
        try (DirectoryLock lock = DirectoryLock.acquire(out, "train", System.out::println)) {
            DataOptions.Prepared p = data.prepare(cfg.batchSize(), cfg.seqLen(), cfg.seed(), seqChunk);
            String mc = resume
                    ? modelOpts.resumed(out.resolve("checkpoint"), p.vocab(), cfg.seed(), modelOpts.given)
                    : modelOpts.build(p.vocab(), cfg.seed());
            System.out.println("data: " + p.description());
            try (LanguageModel model =
                    resume ? Architectures.forConfig(mc).build(mc, cfg.seed()) : modelOpts.create(mc, cfg.seed())) {
                if (device.kind() != fulgur.tensor.Device.Kind.CPU) {
                    model.module().to(device);
                    System.out.println("device: " + device);
                }
                System.out.printf("model: %s, %,d parameters%n", model.describe(), model.parameterCount());
                if (p.tokenizer() != null) {
                    ModelDirectory.checkVocabulary(p.tokenizer(), model.vocabSize(), p.tokenizerSource());
                }
                RunReport report = new RunReport(System.out, "fulgur training loss");
                Trainer trainer = new Trainer(model, cfg, p.train(), p.eval(), out, System.out)
                        .listener(report)
                        .precision(precision)
                        .cudaGraph(cudaGraph)
                        .outputLock(lock)
                        .allowChangedSettings(allowChanges)
                        .checkpointCompanions(p.tokenizerFiles())
                        .sequenceChunk(seqChunk)
                        .checkpointActivations(checkpointActivations);
                if (checkpointActivations) {
                    System.out.println(
                            "activation checkpointing: each layer keeps only its input and runs again in the backward");
                }
                if (cudaGraph) {
                    System.out.println("cuda graph: the training step is captured after the first step and replayed");
                }
                if (precision != null) {
                    System.out.println("precision: " + precision.name().toLowerCase(java.util.Locale.ROOT)
                            + " compute, f32 master weights");
                }
                if (timeLimitMinutes != null) {
                    trainer.timeLimit(timeLimitMinutes * 60);
                }
                Trainer.Result r;
                try (report) {
                    r = trainer.run(resume);
                }
                System.out.printf(
                        "done: %d steps, last train loss %.4f%s, %.0f tokens/s, peak memory %.2f GiB; outputs in %s%n",
                        r.stepsDone(),
                        r.lastTrainLoss(),
                        r.lastEval().isEmpty() ? "" : ", " + Trainer.describe(r.lastEval()),
                        r.tokensPerSecond(),
                        r.peakMemoryGib(),
                        out.toAbsolutePath());
                return r;
            }
        }
    }
}
