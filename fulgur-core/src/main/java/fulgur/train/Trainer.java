package fulgur.train;

import fulgur.data.Batch;
import fulgur.io.Json;
import fulgur.models.CausalLM;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop: AdamW with warmup and a decay schedule, gradient accumulation and clipping, periodic
 * evaluation and checkpoints. What happens is reported to a {@link TrainingListener} (by default status lines and
 * evaluations printed to the given stream; the command line's report draws a progress bar and writes the metrics log
 * and the loss curve). A resumed run continues with the same batches, learning rates and optimizer state, so its
 * losses equal the uninterrupted run's.
 */
public final class Trainer {

    /**
     * What a run produced.
     *
     * @param stepsDone the steps done in total (including those before a resume)
     * @param lastTrainLoss the last step's loss
     * @param lastEval the last evaluation's metrics, empty without an evaluator
     * @param tokensPerSecond training throughput since the run (re)started
     * @param peakMemoryGib the device's peak memory, GiB
     * @param outDir the output directory
     */
    public record Result(
            long stepsDone,
            double lastTrainLoss,
            Map<String, Double> lastEval,
            double tokensPerSecond,
            double peakMemoryGib,
            Path outDir) {}

    private static final double GIB = 1024.0 * 1024 * 1024;

    private final CausalLM model;
    private fulgur.tensor.DType precision;
    private final TrainConfig cfg;
    private final DataSource data;
    private final Evaluator evaluator;
    private final Path outDir;
    private TrainingListener listener;
    private long stopAfter = Long.MAX_VALUE;
    private double timeLimitSeconds = Double.POSITIVE_INFINITY;
    private boolean cudaGraph;
    private int seqChunk;
    private boolean checkpointActivations;
    private java.util.List<Path> companions = java.util.List.of();
    private boolean allowChangedSettings;
    private fulgur.io.DirectoryLock heldLock;

    /**
     * A run of {@code model} under {@code cfg} on {@code data}, evaluated by {@code evaluator} (null: never), writing
     * its checkpoint and config under {@code outDir} and its status lines to {@code out}.
     *
     * @param model the model
     * @param cfg the settings, validated here
     * @param data the training batches
     * @param evaluator the evaluation, or null
     * @param outDir the output directory
     * @param out where status lines go
     * @throws IllegalArgumentException when the settings are invalid
     */
    public Trainer(
            CausalLM model, TrainConfig cfg, DataSource data, Evaluator evaluator, Path outDir, PrintStream out) {
        this.model = model;
        this.cfg = cfg.validate();
        this.data = data;
        this.evaluator = evaluator;
        this.outDir = outDir;
        this.listener = TrainingListener.printing(out);
    }

    /**
     * Reports the run to {@code listener} instead of printing status lines and evaluations to the stream.
     *
     * @param listener the listener
     * @return this trainer
     */
    public Trainer listener(TrainingListener listener) {
        this.listener = java.util.Objects.requireNonNull(listener, "listener");
        return this;
    }

    /**
     * Files copied into every checkpoint beside the weights: the tokenizer's ({@link fulgur.tokenizer.TokenizerFiles}).
     *
     * @param files the files to copy
     * @return this trainer
     */
    public Trainer checkpointCompanions(java.util.List<Path> files) {
        this.companions = java.util.List.copyOf(files);
        return this;
    }

    /**
     * Stops (after checkpointing) once this many steps are done in total: an interruption on purpose, for tests.
     *
     * @param step the total steps after which to stop
     * @return this trainer
     */
    public Trainer stopAfter(long step) {
        this.stopAfter = step;
        return this;
    }

    /**
     * Mixed precision: parameters and activations in {@code compute} (bf16 or f16) with f32 master weights and
     * optimizer state; checkpoints hold the f32 masters. Null (the default) trains in the parameters' own dtype.
     *
     * @param compute bf16, f16 or null
     * @return this trainer
     */
    public Trainer precision(fulgur.tensor.DType compute) {
        this.precision = compute;
        return this;
    }

    /**
     * Records the training step as a CUDA graph after the first step and replays it from then on (the model must be on
     * a cuda device, batches of one shape, no dropout): the host's per-step work becomes one graph launch.
     *
     * @param on whether to capture the step
     * @return this trainer
     */
    public Trainer cudaGraph(boolean on) {
        this.cudaGraph = on;
        return this;
    }

    /**
     * Walks each training sequence in chunks of {@code tokens} tokens ({@link ChunkedStep}: the whole sequence's loss and
     * gradients, the memory of one chunk, one more forward of the layers); 0 (the default) trains whole sequences.
     *
     * @param tokens tokens per chunk, 0 for whole sequences
     * @return this trainer
     * @throws IllegalArgumentException when {@code tokens} is negative
     */
    public Trainer sequenceChunk(int tokens) {
        if (tokens < 0) {
            throw new IllegalArgumentException(
                    "the sequence chunk must be >= 1 token (0: whole sequences), got " + tokens);
        }
        this.seqChunk = tokens;
        return this;
    }

    /**
     * Activation checkpointing per layer for whole-sequence steps (the backward runs each layer's forward again).
     *
     * @param on whether to checkpoint activations
     * @return this trainer
     */
    public Trainer checkpointActivations(boolean on) {
        this.checkpointActivations = on;
        return this;
    }

    /**
     * Ends the run (evaluating and checkpointing as at the last step) once this much wall time has passed.
     *
     * @param seconds the wall time, &gt; 0
     * @return this trainer
     * @throws IllegalArgumentException when {@code seconds} is not positive
     */
    public Trainer timeLimit(double seconds) {
        if (!(seconds > 0)) {
            throw new IllegalArgumentException("time limit must be > 0 seconds, got " + seconds);
        }
        this.timeLimitSeconds = seconds;
        return this;
    }

    /**
     * Lets a resumed run change settings other than {@link TrainConfig#FREE_ON_RESUME} (which it otherwise refuses,
     * naming each): the run then continues the checkpoint under the new settings.
     *
     * @param on whether changes are allowed
     * @return this trainer
     */
    public Trainer allowChangedSettings(boolean on) {
        this.allowChangedSettings = on;
        return this;
    }

    /**
     * The lock on the output directory that the caller already holds (e.g. taken before writing files beside the run's);
     * without it, {@link #run} takes its own for the run's duration.
     *
     * @param held the lock
     * @return this trainer
     */
    public Trainer outputLock(fulgur.io.DirectoryLock held) {
        this.heldLock = held;
        return this;
    }

    /**
     * Where the run keeps its checkpoint: {@code outDir/checkpoint}.
     *
     * @return the directory
     */
    public Path checkpointDir() {
        return outDir.resolve("checkpoint");
    }

    /**
     * Trains to the configured number of steps, from scratch or ({@code resume}) from the checkpoint in {@link
     * #checkpointDir()}, holding the output directory's lock throughout.
     *
     * @param resume whether to continue from the checkpoint
     * @return what the run produced
     * @throws java.io.UncheckedIOException when the output directory cannot be locked, read or written
     * @throws IllegalArgumentException when resuming from a checkpoint that does not fit the model or settings
     * @throws IllegalStateException when the loss or gradients diverge (the last good checkpoint stays)
     */
    public Result run(boolean resume) {
        try (fulgur.io.DirectoryLock lock = heldLock != null
                ? heldLock.borrow(outDir)
                : fulgur.io.DirectoryLock.acquire(outDir, "train", listener::message)) {
            return runChecked(resume);
        } catch (IOException e) {
            throw new UncheckedIOException("training output under " + outDir + ": " + e.getMessage(), e);
        }
    }

    private Result runChecked(boolean resume) throws IOException {
        if (checkpointActivations && seqChunk > 0) {
            throw new IllegalArgumentException(
                    "activation checkpointing applies to whole-sequence steps; a sequence walked in chunks holds one chunk's"
                            + " activations anyway (use a longer chunk instead)");
        }
        Files.createDirectories(outDir);
        LrSchedule schedule = cfg.lrSchedule();
        long step = 0;
        long tokens = 0;
        Map<String, Object> st = resume
                ? Checkpoint.load(checkpointDir(), model, null)
                : null; // f32 weights first, then the masters copy them
        MixedPrecision mp = precision == null ? null : MixedPrecision.of(model.module(), precision);
        List<fulgur.optim.ParamGroup> groups = ParamGroup.decayAndNoDecay(model.module(), cfg.weightDecay());
        AdamW opt =
                new AdamW(mp == null ? groups : mp.masterGroups(groups), cfg.lr(), cfg.beta1(), cfg.beta2(), cfg.eps());
        if (resume) {
            Checkpoint.loadOptimizer(checkpointDir(), opt, String.valueOf(st.get("step")));
            step = ((Number) st.get("step")).longValue();
            ResumeCheck.check(cfg, st, checkpointDir(), allowChangedSettings, listener::message);
            tokens = ((Number) st.getOrDefault("tokens", 0)).longValue();
            @SuppressWarnings("unchecked")
            Map<String, Object> ds = (Map<String, Object>) st.get("data");
            data.restore(ds);
            listener.message("resumed from " + checkpointDir() + " at step " + step);
        }
        fulgur.io.AtomicFiles.writeString(outDir.resolve("config.json"), model.configJson());
        long tokensPerStep = (long) cfg.batchSize() * cfg.seqLen() * cfg.accumulation();
        fulgur.backend.DeviceRuntime backend =
                fulgur.backend.Backends.runtime(model.module().device());
        backend.resetPeakMemory();
        double lastLoss = Double.NaN;
        Map<String, Double> lastEval = Map.of();
        long startNanos = System.nanoTime();
        long startTokens = tokens;
        long lastSaved = step;
        listener.runStarted(new TrainingListener.Start(outDir, step, cfg.steps(), tokens, resume));
        if (seqChunk > 0 && cfg.seqLen() > seqChunk) {
            listener.message(String.format(
                    "sequence chunks: %,d tokens per sequence in %d chunks of %,d (one more forward of the layers; memory of one chunk)",
                    cfg.seqLen(), new ChunkPlan(cfg.seqLen(), seqChunk).count(), seqChunk));
        }
        model.checkpointActivations(checkpointActivations);
        boolean warnedGrowth = false;
        try (TrainStep trainStep =
                new TrainStep(model, mp, opt, cfg.gradClip(), cfg.accumulation(), cudaGraph, seqChunk)) {
            while (step < cfg.steps() && step < stopAfter) {
                double lr = schedule.lr(step);
                List<Batch> micro = new java.util.ArrayList<>(cfg.accumulation());
                for (int m = 0; m < cfg.accumulation(); m++) {
                    micro.add(data.next());
                }
                long stepStart = System.nanoTime();
                TrainStep.Outcome outcome = trainStep.run(micro, lr);
                double stepSeconds = (System.nanoTime() - stepStart) / 1e9;
                if (!warnedGrowth && trainStep.growingStateBytes() > 0) {
                    warnedGrowth = true;
                    listener.message(String.format(
                            "warning: the softmax-attention layers keep the keys and values of every earlier chunk (%,d bytes per"
                                    + " sequence of %,d tokens): their memory grows with the sequence; only the recurrent layers' is fixed",
                            trainStep.growingStateBytes(), cfg.seqLen()));
                }
                double gradNorm = outcome.gradNorm();
                step++;
                tokens += tokensPerStep;
                lastLoss = outcome.loss();
                Divergence.checkStep(step, lastLoss, gradNorm, model.module(), lastSaved);
                double elapsed = (System.nanoTime() - startNanos) / 1e9;
                double tps = (tokens - startTokens) / Math.max(elapsed, 1e-9);
                listener.stepDone(new TrainingListener.Step(
                        step, tokens, lastLoss, lr, gradNorm, tps, stepSeconds, backend.peakMemoryBytes() / GIB));
                boolean outOfTime = elapsed >= timeLimitSeconds;
                boolean last = step == cfg.steps() || outOfTime;
                if (evaluator != null && ((cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || last)) {
                    lastEval = evaluate();
                    Divergence.checkEval(step, lastEval, model.module(), lastSaved);
                    listener.evalDone(new TrainingListener.Eval(step, lastEval));
                }
                if ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) || last || step == stopAfter) {
                    Checkpoint.save(
                            checkpointDir(),
                            mp != null ? mp.masterStateDict() : model.module().stateDict(),
                            model.configJson(),
                            opt,
                            trainerState(step, tokens),
                            companions);
                    lastSaved = step;
                    listener.checkpointSaved(step, checkpointDir());
                }
                if (outOfTime) {
                    listener.message("time limit of " + Math.round(timeLimitSeconds) + " s reached at step " + step);
                    break;
                }
            }
        }
        model.checkpointActivations(false);
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        double tps = (tokens - startTokens) / Math.max(elapsed, 1e-9);
        listener.runFinished(step);
        opt.release();
        if (mp != null) {
            mp.close();
        }
        return new Result(step, lastLoss, lastEval, tps, backend.peakMemoryBytes() / GIB, outDir);
    }

    private Map<String, Double> evaluate() {
        boolean was = model.module().isTraining();
        model.module().train(false);
        try (Scope s = Scope.open("eval");
                var g = fulgur.autograd.GradMode.noGrad()) {
            return evaluator.evaluate(model);
        } finally {
            model.module().train(was);
        }
    }

    private Map<String, Object> trainerState(long step, long tokens) {
        Map<String, Object> st = new LinkedHashMap<>();
        st.put("step", step);
        st.put("tokens", tokens);
        st.put("data", data.state());
        st.put("train_config", Json.mapper().convertValue(cfg, Map.class));
        return st;
    }

    /**
     * "val_loss=1.2345, val_accuracy=0.9000".
     *
     * @param m metrics by name
     * @return the line
     */
    public static String describe(Map<String, Double> m) {
        return format(m);
    }

    static String format(Map<String, Double> m) {
        StringBuilder sb = new StringBuilder();
        m.forEach((k, v) -> sb.append(sb.length() == 0 ? "" : ", ")
                .append("val_")
                .append(k)
                .append('=')
                .append(String.format("%.4f", v)));
        return sb.toString();
    }

    /**
     * Mean loss over a fixed list of held-out batches.
     *
     * @param batches the held-out batches
     * @return the evaluator, reporting "loss"
     */
    public static Evaluator lossOn(List<Batch> batches) {
        return lossOn(batches, 0);
    }

    /**
     * Mean loss over held-out batches, sequences longer than {@code seqChunk} walked in chunks (0: whole).
     *
     * @param batches the held-out batches
     * @param seqChunk tokens per chunk, 0 for whole sequences
     * @return the evaluator, reporting "loss"
     */
    public static Evaluator lossOn(List<Batch> batches, int seqChunk) {
        return m -> {
            double sum = 0;
            for (Batch b : batches) {
                try (Scope s = Scope.open()) {
                    fulgur.tensor.Device d = m.module().device();
                    Tensor in = Tensor.ofInts(b.inputs(), b.batch(), b.seqLen()).to(d);
                    Tensor tg =
                            Tensor.ofInts(b.targets(), b.batch(), b.seqLen()).to(d);
                    sum += (seqChunk > 0 && b.seqLen() > seqChunk
                                    ? new ChunkedStep(m, seqChunk).loss(in, tg)
                                    : m.loss(in, tg.reshape(-1)))
                            .item();
                }
            }
            return Map.of("loss", sum / Math.max(1, batches.size()));
        };
    }
}
