package fulgur.cli;

import fulgur.cli.report.RunReport;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.train.Checkpoint;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a language model on text, token shards or MQAR, or LEAP (--model leap) on audio-visual video parsing.",
            "Writes OUT/checkpoint (safetensors + config.json + optimizer + trainer state), OUT/metrics.jsonl and OUT/loss.png.",
            "Example: fulgur train --data corpus.txt --steps 2000 --out runs/shakespeare",
            "Distributed: --sp N --dp M (local backend: N·M ranks as threads of this process; nccl: under 'fulgur launch').",
            "LEAP: fulgur train --model leap --data LLP_DIR (or --task avvp-synthetic) --out runs/leap; then fulgur eval avvp --model-dir runs/leap ..."})
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

    @Option(names = "--resume", description = "Continue from OUT/checkpoint (same data and settings).")
    boolean resume;

    @Option(names = "--time-limit", description = "Stop after this many minutes (evaluating and checkpointing first).")
    Double timeLimitMinutes;

    @Override
    public Integer call() throws Exception {
        if (AvvpTrain.applies(modelOptions, dataOptions)) { // LEAP is no language model: its own data, loop and scores
            return AvvpTrain.run(spec.commandLine().getParseResult(), dataOptions, modelOptions, trainOptions, avvpOptions, out, resume, timeLimitMinutes) != null ? 0 : 1;
        }
        TrainConfig cfg = trainOptions.build(1000, 16, 128, 3e-3, 100);
        fulgur.tensor.DType precision = trainOptions.mixedPrecision();
        int seqChunk = trainOptions.sequenceChunk();
        if (trainOptions.cudaGraph && modelOptions.device().kind() != fulgur.tensor.Device.Kind.CUDA) {
            throw new IllegalArgumentException("--cuda-graph needs the model on a GPU (--device cuda), got --device " + modelOptions.device());
        }
        if (parallelOptions.distributed()) {
            if (trainOptions.cudaGraph) {
                throw new IllegalArgumentException("--cuda-graph is not supported with --sp/--dp yet");
            }
            if (precision != null) {
                throw new IllegalArgumentException("--precision " + trainOptions.precision + " is not supported with --sp/--dp yet; distributed training runs in f32");
            }
            if (trainOptions.checkpointActivations) {
                throw new IllegalArgumentException("--checkpoint-activations is not supported with --sp/--dp yet");
            }
            return DistTrain.run(dataOptions, modelOptions, parallelOptions, cfg, seqChunk, out, resume) != null ? 0 : 1;
        }
        return run(dataOptions, modelOptions, cfg, out, resume, timeLimitMinutes, precision, trainOptions.cudaGraph, seqChunk,
                trainOptions.checkpointActivations) != null ? 0 : 1;
    }

    static Trainer.Result run(DataOptions data, ModelOptions modelOpts, TrainConfig cfg, Path out, boolean resume, Double timeLimitMinutes,
            fulgur.tensor.DType precision, boolean cudaGraph) throws Exception {
        return run(data, modelOpts, cfg, out, resume, timeLimitMinutes, precision, cudaGraph, 0, false);
    }

    static Trainer.Result run(DataOptions data, ModelOptions modelOpts, TrainConfig cfg, Path out, boolean resume, Double timeLimitMinutes,
            fulgur.tensor.DType precision, boolean cudaGraph, int seqChunk, boolean checkpointActivations) throws Exception {
        fulgur.tensor.Device device = modelOpts.device();
        DataOptions.Prepared p = data.prepare(cfg.batchSize(), cfg.seqLen(), cfg.seed(), seqChunk);
        String mc = resume ? Architectures.read(Checkpoint.resolve(out.resolve("checkpoint")).resolve(Checkpoint.CONFIG)) : modelOpts.build(p.vocab(), cfg.seed());
        System.out.println("data: " + p.description());
        try (LanguageModel model = resume ? Architectures.forConfig(mc).build(mc, cfg.seed()) : modelOpts.create(mc, cfg.seed())) {
            if (device.kind() != fulgur.tensor.Device.Kind.CPU) {
                model.module().to(device);
                System.out.println("device: " + device);
            }
            System.out.printf("model: %s, %,d parameters%n", model.describe(), model.parameterCount());
            Files.createDirectories(out);
            if (p.tokenizerFile() != null) {
                Files.copy(p.tokenizerFile(), out.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
            }
            RunReport report = new RunReport(System.out, "fulgur training loss");
            Trainer trainer = new Trainer(model, cfg, p.train(), p.eval(), out, System.out).listener(report).precision(precision).cudaGraph(cudaGraph)
                    .sequenceChunk(seqChunk).checkpointActivations(checkpointActivations);
            if (checkpointActivations) {
                System.out.println("activation checkpointing: each layer keeps only its input and runs again in the backward");
            }
            if (cudaGraph) {
                System.out.println("cuda graph: the training step is captured after the first step and replayed");
            }
            if (precision != null) {
                System.out.println("precision: " + precision.name().toLowerCase(java.util.Locale.ROOT) + " compute, f32 master weights");
            }
            if (timeLimitMinutes != null) {
                trainer.timeLimit(timeLimitMinutes * 60);
            }
            Trainer.Result r;
            try (report) {
                r = trainer.run(resume);
            }
            System.out.printf("done: %d steps, last train loss %.4f%s, %.0f tokens/s, peak memory %.2f GiB; outputs in %s%n", r.stepsDone(),
                    r.lastTrainLoss(), r.lastEval().isEmpty() ? "" : ", " + Trainer.describe(r.lastEval()), r.tokensPerSecond(), r.peakMemoryGib(),
                    out.toAbsolutePath());
            return r;
        }
    }
}
