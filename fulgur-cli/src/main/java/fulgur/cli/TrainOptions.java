package fulgur.cli;

import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import java.util.Map;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParseResult;

/** Optimisation options shared by train and demo. */
final class TrainOptions {
    @Option(names = "--steps", description = "Optimizer steps. Default: 1000.")
    Long steps;

    @Option(names = "--batch-size", description = "Sequences per micro-batch. Default: 16.")
    Integer batchSize;

    @Option(names = "--seq-len", description = "Tokens per sequence. Default: 128.")
    Integer seqLen;

    @Option(
            names = "--seq-chunk",
            description =
                    "Walk each sequence in chunks of this many tokens through the whole model, carrying the layers' states"
                            + " from chunk to chunk: the whole sequence's loss and gradients with the memory of one chunk (one more forward of the layers)."
                            + " For sequences longer than fit at once, e.g. --seq-len 1048576 --seq-chunk 16384.")
    Integer seqChunk;

    @Option(
            names = "--checkpoint-activations",
            description = "Keep only each layer's input in the forward and run the layer again in the backward"
                    + " (whole-sequence steps: less memory, one more forward).")
    boolean checkpointActivations;

    @Option(
            names = "--accumulation",
            defaultValue = "1",
            description = "Micro-batches per step (gradient accumulation). Default: ${DEFAULT-VALUE}.")
    int accumulation;

    @Option(names = "--lr", description = "Peak learning rate. Default: 0.003.")
    Double lr;

    @Option(names = "--warmup", description = "Linear warmup steps. Default: a tenth of --steps, at most 100.")
    Long warmup;

    @Option(
            names = "--schedule",
            defaultValue = "cosine",
            description = "cosine, linear or constant after warmup. Default: ${DEFAULT-VALUE}.")
    String schedule;

    @Option(
            names = "--min-lr-fraction",
            defaultValue = "0.1",
            description = "Final LR as a fraction of the peak. Default: ${DEFAULT-VALUE}.")
    double minLrFraction;

    @Option(
            names = "--weight-decay",
            defaultValue = "0.1",
            description = "AdamW decoupled weight decay (not on norms and biases). Default: ${DEFAULT-VALUE}.")
    double weightDecay;

    @Option(
            names = "--grad-clip",
            defaultValue = "1.0",
            description = "Clip the global gradient norm (0 = off). Default: ${DEFAULT-VALUE}.")
    double gradClip;

    @Option(names = "--eval-every", description = "Evaluate every N steps (0 = only at the end). Default: 100.")
    Long evalEvery;

    @Option(
            names = "--checkpoint-every",
            defaultValue = "0",
            description = "Checkpoint every N steps (0 = only at the end). Default: ${DEFAULT-VALUE}.")
    long checkpointEvery;

    @Option(
            names = "--precision",
            defaultValue = "f32",
            description =
                    "f32, or bf16 mixed precision (bf16 weights and activations, f32 master weights and optimizer state; checkpoints keep f32). Default: ${DEFAULT-VALUE}.")
    String precision = "f32";

    @Option(
            names = "--cuda-graph",
            description =
                    "Capture the training step as a CUDA graph after the first step and replay it (needs --device cuda; batches of one shape, no dropout).")
    boolean cudaGraph;

    /** The sequence chunk in tokens, 0 for whole sequences; checks the long-sequence options against each other. */
    int sequenceChunk() {
        if (seqChunk == null) {
            return 0;
        }
        if (seqChunk < 1) {
            throw new IllegalArgumentException("--seq-chunk must be >= 1 token, got " + seqChunk);
        }
        if (checkpointActivations) {
            throw new IllegalArgumentException(
                    "--checkpoint-activations applies to whole-sequence steps; with --seq-chunk only one chunk's activations"
                            + " are held (use a longer chunk instead)");
        }
        if (cudaGraph) {
            throw new IllegalArgumentException(
                    "--cuda-graph does not capture a step that walks sequences in chunks (--seq-chunk); use one or the other");
        }
        return seqChunk;
    }

    /** The compute dtype for mixed precision, or null for plain f32. */
    fulgur.tensor.DType mixedPrecision() {
        return switch (precision.toLowerCase(java.util.Locale.ROOT)) {
            case "f32", "fp32", "float32" -> null;
            case "bf16", "bfloat16" -> fulgur.tensor.DType.BF16;
            default -> throw new IllegalArgumentException("--precision must be f32 or bf16, got '" + precision + "'");
        };
    }

    // AdamW's betas and eps have no options: the checkpoint's on resume, else these
    private double beta1 = 0.9;
    private double beta2 = 0.95;
    private double eps = 1e-8;

    @Option(
            names = "--seed",
            defaultValue = "1234",
            description = "Seed for initialisation and data. Default: ${DEFAULT-VALUE}.")
    long seed;

    /** Each setting's option, by {@link TrainConfig} field (betas and eps have none). */
    static final Map<String, String> FLAGS = Map.ofEntries(
            Map.entry("steps", "--steps"),
            Map.entry("batchSize", "--batch-size"),
            Map.entry("seqLen", "--seq-len"),
            Map.entry("accumulation", "--accumulation"),
            Map.entry("lr", "--lr"),
            Map.entry("warmupSteps", "--warmup"),
            Map.entry("schedule", "--schedule"),
            Map.entry("minLrFraction", "--min-lr-fraction"),
            Map.entry("weightDecay", "--weight-decay"),
            Map.entry("gradClip", "--grad-clip"),
            Map.entry("evalEvery", "--eval-every"),
            Map.entry("checkpointEvery", "--checkpoint-every"),
            Map.entry("seed", "--seed"));

    /**
     * For a resumed run: every setting not given on the command line takes the checkpoint's value, so that
     * {@code --resume} alone continues the run as it was.
     */
    void inherit(TrainConfig saved, ParseResult given) {
        if (!given.hasMatchedOption("--steps")) {
            steps = saved.steps();
        }
        if (!given.hasMatchedOption("--batch-size")) {
            batchSize = saved.batchSize();
        }
        if (!given.hasMatchedOption("--seq-len")) {
            seqLen = saved.seqLen();
        }
        if (!given.hasMatchedOption("--accumulation")) {
            accumulation = saved.accumulation();
        }
        if (!given.hasMatchedOption("--lr")) {
            lr = saved.lr();
        }
        if (!given.hasMatchedOption("--warmup")) {
            warmup = saved.warmupSteps();
        }
        if (!given.hasMatchedOption("--schedule")) {
            schedule = saved.schedule().cliName();
        }
        if (!given.hasMatchedOption("--min-lr-fraction")) {
            minLrFraction = saved.minLrFraction();
        }
        if (!given.hasMatchedOption("--weight-decay")) {
            weightDecay = saved.weightDecay();
        }
        if (!given.hasMatchedOption("--grad-clip")) {
            gradClip = saved.gradClip();
        }
        if (!given.hasMatchedOption("--eval-every")) {
            evalEvery = saved.evalEvery();
        }
        if (!given.hasMatchedOption("--checkpoint-every")) {
            checkpointEvery = saved.checkpointEvery();
        }
        if (!given.hasMatchedOption("--seed")) {
            seed = saved.seed();
        }
        beta1 = saved.beta1();
        beta2 = saved.beta2();
        eps = saved.eps();
    }

    /** "--lr 0.001 (checkpoint: 0.003)". */
    static String describe(TrainConfig.Change c) {
        return FLAGS.getOrDefault(c.field(), c.field()) + " " + value(c.now()) + " (checkpoint: " + value(c.saved())
                + ")";
    }

    private static String value(Object v) {
        return v instanceof LrSchedule.Kind k ? k.cliName() : String.valueOf(v);
    }

    TrainConfig build(long defSteps, int defBatch, int defSeq, double defLr, long defEvalEvery) {
        long s = steps != null ? steps : defSteps;
        long w = warmup != null ? warmup : Math.min(s / 10, 100);
        return new TrainConfig(
                        s,
                        batchSize != null ? batchSize : defBatch,
                        seqLen != null ? seqLen : defSeq,
                        accumulation,
                        lr != null ? lr : defLr,
                        w,
                        LrSchedule.Kind.parse(schedule),
                        minLrFraction,
                        weightDecay,
                        beta1,
                        beta2,
                        eps,
                        gradClip,
                        evalEvery != null ? evalEvery : defEvalEvery,
                        checkpointEvery,
                        seed)
                .validate();
    }
}
