package fulgur.dist.train;

import fulgur.data.Batch;
import fulgur.dist.ParallelGrid;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.co2.Co2Config;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.ep.ExpertParallel;
import fulgur.dist.sp.ChunkedSequenceParallel;
import fulgur.dist.sp.SequenceLayout;
import fulgur.dist.sp.SequenceParallel;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.io.Json;
import fulgur.models.CausalLM;
import fulgur.models.SequenceShard;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import fulgur.train.Evaluator;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.TrainingListener;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop of one rank of a data-parallel × sequence-parallel run. Every rank walks the same global
 * batches ({@code batchSize} sequences of {@code seqLen} tokens, as in a single-process run with the same settings);
 * data replica d takes rows {@code [d·B/dp, (d+1)·B/dp)}, sequence rank s takes its slice of the columns; its mean
 * loss is weighted by its share of the batch's counted targets, gradients are summed over the world while the
 * backward runs ({@link GradientSync}), so every rank holds the gradient of the whole batch's mean loss and takes
 * the same AdamW step: N ranks reproduce the single-rank run. Rank 0 alone prints, logs metrics, evaluates and writes
 * checkpoints (the same files as {@link fulgur.train.Trainer}); all ranks can resume from them.
 *
 * <p>Other ways to update ({@link ParameterUpdate}): ZeRO ({@link #zero}: optimizer states, and gradients, sharded over
 * the world), CO2 ({@link #co2}: each replica steps on its own rows and the replicas' parameters are averaged every τ
 * steps behind the computation), and experts split over ranks ({@link #expertParallel}). MoE layers count their
 * load-balancing loss over the whole batch, so that MoE models too reproduce the single-rank run.
 */
public final class DistributedTrainer {

    /**
     * What a run produced; {@code peakMemoryGib}: this rank's device memory on a GPU, the process's host memory on the
     * CPU.
     *
     * @param stepsDone the steps done in total (including those before a resume)
     * @param lastTrainLoss the last step's loss
     * @param lastEval the last evaluation's metrics, empty without an evaluator
     * @param tokensPerSecond the job's training throughput since it (re)started
     * @param peakMemoryGib the peak memory, GiB
     */
    public record Result(
            long stepsDone,
            double lastTrainLoss,
            Map<String, Double> lastEval,
            double tokensPerSecond,
            double peakMemoryGib) {}

    private static final double GIB = 1024.0 * 1024 * 1024;

    private final ProcessGroup world;
    private final ParallelGrid grid;
    private final SpAlgorithm algorithm;
    private final CausalLM model;
    private final TrainConfig cfg;
    private final GlobalBatches data;
    private final Evaluator evaluator;
    private final Path outDir;
    private TrainingListener listener;
    private final long bucketElements;
    private int seqChunk;
    private DType precision;
    private int zeroStage;
    private Co2Config co2;
    private int ep = 1;
    private boolean allowChangedSettings;
    private fulgur.io.DirectoryLock heldLock;
    private List<Path> companions = List.of();

    /**
     * A run of {@code model} on {@code world}, split into {@code dp} data replicas × {@code sp} sequence slices.
     *
     * @param world every rank of the job; this rank runs its part
     * @param dp the data-parallel size, dividing the batch size
     * @param sp the sequence-parallel size, dividing the sequence length
     * @param algorithm how lightning attention crosses sequence slices (LASP or LASP-2)
     * @param model this rank's replica of the model
     * @param cfg the settings, validated here
     * @param data the global batches
     * @param evaluator the evaluation, or null
     * @param outDir the output directory (written by rank 0)
     * @param out where rank 0's status lines go
     * @param bucketElements gradient elements per all-reduce bucket
     * @throws IllegalArgumentException when the settings are invalid, the batch does not split over dp or the sequence
     *     over sp
     * @throws fulgur.dist.DistException when dp·sp differs from the world's size
     */
    public DistributedTrainer(
            ProcessGroup world,
            int dp,
            int sp,
            SpAlgorithm algorithm,
            CausalLM model,
            TrainConfig cfg,
            GlobalBatches data,
            Evaluator evaluator,
            Path outDir,
            PrintStream out,
            long bucketElements) {
        this.cfg = cfg.validate();
        if (cfg.batchSize() % dp != 0) {
            throw new IllegalArgumentException(
                    "data parallelism: a batch of " + cfg.batchSize() + " sequences does not split over --dp " + dp
                            + " replicas (the batch size must be a multiple of the data-parallel size)");
        }
        SequenceLayout.even(cfg.seqLen(), sp); // fails early with a clear message when the length does not split
        this.world = world;
        this.grid = ParallelGrid.of(world, dp, sp);
        this.algorithm = algorithm;
        this.model = model;
        this.data = data;
        this.evaluator = evaluator;
        this.outDir = outDir;
        this.listener = TrainingListener.printing(out);
        this.bucketElements = bucketElements;
    }

    /**
     * Lets a resumed run change settings the checkpoint recorded (see {@link
     * fulgur.train.Trainer#allowChangedSettings}).
     *
     * @param on whether changes are allowed
     * @return this trainer
     */
    public DistributedTrainer allowChangedSettings(boolean on) {
        this.allowChangedSettings = on;
        return this;
    }

    /**
     * The output directory's lock, held by the caller (rank 0 only); without it rank 0 takes its own for the run.
     *
     * @param held the lock
     * @return this trainer
     */
    public DistributedTrainer outputLock(fulgur.io.DirectoryLock held) {
        this.heldLock = held;
        return this;
    }

    /**
     * Files copied into every checkpoint beside the weights: the tokenizer's ({@link fulgur.tokenizer.TokenizerFiles}).
     *
     * @param files the files to copy
     * @return this trainer
     */
    public DistributedTrainer checkpointCompanions(List<Path> files) {
        this.companions = List.copyOf(files);
        return this;
    }

    private boolean leader() {
        return world.rank() == 0;
    }

    /**
     * Walks each rank's share of a sequence in chunks of {@code tokens} tokens ({@link ChunkedSequenceParallel}: the group
     * works on rounds of sp·tokens tokens, one chunk per rank, carrying the lightning states from round to round); 0 (the
     * default) keeps each rank's whole slice in one piece.
     *
     * @param tokens tokens per chunk, 0 for whole slices
     * @return this trainer
     * @throws IllegalArgumentException when {@code tokens} is negative
     */
    public DistributedTrainer sequenceChunk(int tokens) {
        if (tokens < 0) {
            throw new IllegalArgumentException(
                    "the sequence chunk must be >= 1 token (0: whole slices), got " + tokens);
        }
        this.seqChunk = tokens;
        return this;
    }

    /**
     * Reports the run (on the leading rank) to {@code listener} instead of printing status lines and evaluations.
     *
     * @param listener the listener
     * @return this trainer
     */
    public DistributedTrainer listener(TrainingListener listener) {
        this.listener = java.util.Objects.requireNonNull(listener, "listener");
        return this;
    }

    /**
     * Mixed precision: the model computes in {@code compute} (bf16 or f16) with f32 masters (sharded under ZeRO). Null:
     * the parameters' dtype.
     *
     * @param compute bf16, f16 or null
     * @return this trainer
     */
    public DistributedTrainer precision(DType compute) {
        this.precision = compute;
        return this;
    }

    /**
     * ZeRO stage 1 (optimizer states sharded over the world) or 2 (gradients too); 0: unsharded.
     *
     * @param stage 0, 1 or 2
     * @return this trainer
     * @throws IllegalArgumentException for another stage
     */
    public DistributedTrainer zero(int stage) {
        if (stage != 0) {
            fulgur.dist.zero.ShardedAdamW.Stage.of(stage);
        }
        this.zeroStage = stage;
        return this;
    }

    /**
     * CO2 over the data-parallel replicas instead of synchronous updates; null: synchronous.
     *
     * @param config the CO2 settings, or null
     * @return this trainer
     */
    public DistributedTrainer co2(Co2Config config) {
        this.co2 = config;
        return this;
    }

    /**
     * Splits every MoE layer's experts over groups of {@code ep} data-parallel ranks (which must divide the data-parallel
     * size and each layer's experts).
     *
     * @param ep the ranks each layer's experts are split over
     * @return this trainer
     */
    public DistributedTrainer expertParallel(int ep) {
        this.ep = ep;
        return this;
    }

    /**
     * One clear line when the checkpoint in {@code checkpointDir} cannot be resumed with CO2 over {@code dp} replicas
     * ({@code co2}) or with synchronous updates (all other checkpoints resume under any sharding). Reads the trainer state only.
     *
     * @param checkpointDir the checkpoint directory
     * @param co2 whether the run resumes with CO2
     * @param dp the data replicas
     * @throws java.io.IOException when the trainer state cannot be read
     * @throws IllegalArgumentException when the checkpoint cannot be resumed so
     */
    public static void checkResumable(Path checkpointDir, boolean co2, int dp) throws IOException {
        Path state = Checkpoint.resolve(checkpointDir).resolve(Checkpoint.STATE);
        Map<String, Object> st = Json.mapper()
                .readValue(
                        Files.readString(state),
                        new com.fasterxml.jackson.core.type.TypeReference<
                                java.util.LinkedHashMap<String, Object>>() {});
        try {
            Co2Update.checkResumable(st, co2, dp);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(checkpointDir + ": " + e.getMessage(), e);
        }
    }

    /** One clear line for settings that do not go together; called before any work. */
    private void checkSettings() {
        if (co2 != null && zeroStage != 0) {
            throw new IllegalArgumentException(
                    "--zero shards the optimizer of synchronous data parallelism; CO2 keeps one optimizer per replica (drop --zero or --dp-algo co2)");
        }
        if (ep > 1 && zeroStage != 0) {
            throw new IllegalArgumentException(
                    "--zero with --ep is not supported: ZeRO shards replicated parameters over the whole world, but experts are held by their expert-parallel ranks only");
        }
        if (ep > 1 && co2 != null) {
            throw new IllegalArgumentException(
                    "--ep with --dp-algo co2 is not supported: CO2 averages whole replicas, but expert parallelism spreads one replica's experts over several ranks");
        }
        if (co2 != null && grid.dp() < 2) {
            throw new IllegalArgumentException(
                    "--dp-algo co2 averages data-parallel replicas: it needs --dp of at least 2");
        }
        ExpertParallel.check(model.module(), ep, grid.dp());
        if (chunked() && zeroStage != 0) {
            throw new IllegalArgumentException(
                    "--seq-chunk with --zero is not supported yet: ZeRO's backward takes one loss, a chunk's backward also starts from its states");
        }
        if (chunked() && !ExpertParallel.moeLayers(model.module()).isEmpty()) {
            throw new IllegalArgumentException(
                    "--seq-chunk with --sp/--dp is not supported for MoE models yet: their load-balancing loss is taken over the"
                            + " whole batch across ranks, not chunk by chunk (train them in chunks in one process)");
        }
    }

    private ParameterUpdate update(ExpertParallel experts) {
        if (co2 != null) {
            return new Co2Update(grid, model, cfg, bucketElements, precision, co2);
        }
        if (zeroStage != 0) {
            return new ShardedUpdate(
                    world, model, cfg, bucketElements, precision, fulgur.dist.zero.ShardedAdamW.Stage.of(zeroStage));
        }
        return new SynchronousUpdate(world, model, cfg, bucketElements, precision, experts);
    }

    /**
     * Trains to the configured number of steps, from scratch or ({@code resume}) from the checkpoint, every rank of the
     * world calling it.
     *
     * @param resume whether to continue from the checkpoint
     * @return what the run produced
     * @throws java.io.UncheckedIOException when the output directory cannot be locked, read or written
     * @throws fulgur.dist.DistException when a rank fails or a wait times out
     */
    public Result run(boolean resume) {
        try (fulgur.io.DirectoryLock lock = !leader()
                ? null
                : heldLock != null
                        ? heldLock.borrow(outDir)
                        : fulgur.io.DirectoryLock.acquire(outDir, "train", listener::message)) {
            return runChecked(resume);
        } catch (IOException e) {
            throw new UncheckedIOException("training output under " + outDir + ": " + e.getMessage(), e);
        }
    }

    private Result runChecked(boolean resume) throws IOException {
        checkSettings();
        LrSchedule schedule = cfg.lrSchedule();
        Path ckpt = outDir.resolve("checkpoint");
        long step = 0, tokens = 0;
        Map<String, Object> resumed = null;
        if (resume) {
            resumed = Checkpoint.load(ckpt, model, null); // f32 weights first; the update casts, shards or splits them
            Co2Update.checkResumable(resumed, co2 != null, grid.dp());
            step = ((Number) resumed.get("step")).longValue();
            fulgur.train.ResumeCheck.check(
                    cfg, resumed, ckpt, allowChangedSettings, leader() ? listener::message : line -> {});
            tokens = ((Number) resumed.getOrDefault("tokens", 0)).longValue();
            @SuppressWarnings("unchecked")
            Map<String, Object> ds = (Map<String, Object>) resumed.get("data");
            data.restore(ds);
        } else if (leader()) {
            Files.createDirectories(outDir);
        }
        boolean moe = !ExpertParallel.moeLayers(model.module()).isEmpty();
        ExpertParallel experts = moe ? ExpertParallel.install(model.module(), grid, ep, co2 != null) : null;
        ParameterUpdate update = update(experts);
        if (resume) {
            update.load(ckpt, resumed);
            if (leader()) {
                listener.message("resumed from " + ckpt + " at step " + step);
            }
        }
        if (leader()) {
            fulgur.io.AtomicFiles.writeString(outDir.resolve("config.json"), model.configJson());
            listener.message(String.format(
                    "distributed: %d ranks (%s backend) = dp %d × sp %d, sequence parallelism %s; %d tokens per rank and sequence%s",
                    world.size(),
                    world.backend(),
                    grid.dp(),
                    grid.sp(),
                    algorithm.label(),
                    cfg.seqLen() / grid.sp(),
                    describeSettings()));
            if (chunked()) {
                listener.message(String.format(
                        "sequence chunks: each rank walks its %,d tokens in chunks of %,d (%d rounds of %,d tokens over the group)",
                        cfg.seqLen() / grid.sp(),
                        seqChunk,
                        new fulgur.train.ChunkPlan(cfg.seqLen() / grid.sp(), seqChunk).count(),
                        seqChunk * grid.sp()));
            }
        }
        SequenceLayout layout = SequenceLayout.even(cfg.seqLen(), grid.sp());
        SequenceShard shard = grid.sp() == 1
                ? SequenceShard.WHOLE
                : SequenceParallel.shard(grid.sequenceParallel(), algorithm, layout);
        int rows = cfg.batchSize() / grid.dp();
        long tokensPerStep = (long) cfg.batchSize() * cfg.seqLen() * cfg.accumulation();
        double lastLoss = Double.NaN;
        Map<String, Double> lastEval = Map.of();
        long t0 = System.nanoTime();
        long startTokens = tokens;
        long lastSaved = step;
        fulgur.backend.DeviceRuntime backend =
                fulgur.backend.Backends.runtime(model.module().device());
        backend.resetPeakMemory();
        if (leader()) {
            listener.runStarted(new TrainingListener.Start(outDir, step, cfg.steps(), tokens, resume));
        }
        try (update) {
            while (step < cfg.steps()) {
                double lr = schedule.lr(step);
                long stepStart = System.nanoTime();
                update.zeroGrad();
                double lossSum = 0;
                for (int micro = 0; micro < cfg.accumulation(); micro++) {
                    try (Scope s = Scope.open("step")) {
                        Batch b = data.next();
                        if (b.batch() != cfg.batchSize() || b.seqLen() != cfg.seqLen()) {
                            throw new IllegalStateException("data source gave a " + b.batch() + " × " + b.seqLen()
                                    + " batch, expected " + cfg.batchSize() + " × " + cfg.seqLen());
                        }
                        Tensor all = Tensor.ofInts(b.inputs(), b.batch(), b.seqLen());
                        Tensor allTargets = Tensor.ofInts(b.targets(), b.batch(), b.seqLen());
                        Tensor replica = allTargets.narrow(0, grid.dpRank() * rows, rows);
                        Tensor in = SequenceParallel.slice(
                                all.narrow(0, grid.dpRank() * rows, rows), layout, grid.spRank());
                        Tensor tg = SequenceParallel.slice(replica, layout, grid.spRank());
                        fulgur.tensor.Device dev = model.module().device();
                        if (chunked()) {
                            long counted = SequenceParallel.countTargets(
                                    update.localUpdates() ? replica.contiguous().toIntArray() : b.targets());
                            lossSum += chunkedStep(
                                    update,
                                    all.narrow(0, grid.dpRank() * rows, rows),
                                    replica,
                                    counted,
                                    micro == cfg.accumulation() - 1,
                                    dev);
                            continue;
                        }
                        long local = SequenceParallel.countTargets(tg.toIntArray());
                        // the loss this rank's share weighs: the whole batch's, or with CO2 its own replica's
                        long total = SequenceParallel.countTargets(
                                update.localUpdates() ? replica.contiguous().toIntArray() : b.targets());
                        if (experts != null) {
                            experts.lossShare().set(total == 0 ? 0 : (double) local / total);
                        }
                        Tensor mean = model.loss(in.to(dev), tg.reshape(-1).to(dev), shard);
                        Tensor loss = SequenceParallel.weightedLoss(mean, local, total);
                        if (cfg.accumulation() > 1) {
                            loss = loss.mul(1.0 / cfg.accumulation());
                        }
                        // only the loss is read after the backward: activations are freed as the backward passes them
                        update.backward(
                                loss,
                                micro == cfg.accumulation() - 1,
                                fulgur.autograd.Autograd.Free.GRADIENTS_AND_ACTIVATIONS);
                        lossSum += loss.item();
                    }
                }
                // every rank knows the loss and the gradient norm, so all of them stop together, before the update
                lastLoss = allReduceSum(lossSum) / (update.localUpdates() ? grid.dp() : 1);
                double stepLoss = lastLoss;
                long saved = lastSaved;
                long stepNumber = step + 1;
                double gradNorm = update.step(
                        lr,
                        cfg.gradClip(),
                        norm -> fulgur.train.Divergence.checkStep(stepNumber, stepLoss, norm, model.module(), saved));
                step++;
                tokens += tokensPerStep;
                if (leader()) {
                    double tps = (tokens - startTokens) / Math.max((System.nanoTime() - t0) / 1e9, 1e-9);
                    listener.stepDone(new TrainingListener.Step(
                            step,
                            tokens,
                            lastLoss,
                            lr,
                            gradNorm,
                            tps,
                            (System.nanoTime() - stepStart) / 1e9,
                            backend.peakMemoryBytes() / GIB));
                }
                boolean last = step == cfg.steps();
                if ((cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || last) {
                    // every rank takes part: an update may first have to agree on the parameters to evaluate, and
                    // experts split over ranks evaluate together (each rank then has an evaluator)
                    boolean together = experts != null && experts.isSharded();
                    Map<String, Double> ev =
                            update.evaluate(() -> (leader() || together) && evaluator != null ? evaluate() : null);
                    if (ev != null) {
                        fulgur.train.Divergence.checkEval(step, ev, model.module(), lastSaved);
                    }
                    if (ev != null && leader()) {
                        lastEval = ev;
                        listener.evalDone(new TrainingListener.Eval(step, lastEval));
                    }
                }
                if ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) || last) {
                    Map<String, Object> st = new LinkedHashMap<>();
                    st.put("step", step);
                    st.put("tokens", tokens);
                    st.put("data", data.state());
                    st.put("train_config", Json.mapper().convertValue(cfg, Map.class));
                    Map<String, Object> parallel = new LinkedHashMap<>(
                            Map.of("dp", grid.dp(), "sp", grid.sp(), "algorithm", algorithm.label()));
                    parallel.putAll(update.describe());
                    st.put("parallel", parallel);
                    update.save(ckpt, model.configJson(), st, companions);
                    lastSaved = step;
                    if (leader()) {
                        listener.checkpointSaved(step, ckpt);
                    }
                }
            }
        }
        double tps = (tokens - startTokens) / Math.max((System.nanoTime() - t0) / 1e9, 1e-9);
        if (leader()) {
            listener.runFinished(step);
        }
        world.barrier().await();
        return new Result(step, lastLoss, lastEval, tps, backend.peakMemoryBytes() / GIB);
    }

    private boolean chunked() {
        return seqChunk > 0 && cfg.seqLen() / grid.sp() > seqChunk;
    }

    /**
     * One micro-batch walked in chunks: this rank's pieces of every round, the group on one round at a time; gradients
     * accumulate over the chunks and are communicated in the backward of the last chunk of the last micro-batch.
     * Returns this rank's share of the loss ({@code counted}: the targets the loss is the mean over).
     */
    private double chunkedStep(
            ParameterUpdate update,
            Tensor inputs,
            Tensor targets,
            long counted,
            boolean lastMicro,
            fulgur.tensor.Device dev) {
        ChunkedSequenceParallel.Backward backward = (roots, seeds, last, keep) -> update.backward(
                roots, seeds, lastMicro && last, fulgur.autograd.Autograd.Free.GRADIENTS_AND_ACTIVATIONS, keep);
        fulgur.train.ChunkedStep.Link link = grid.sp() == 1
                ? new fulgur.train.ChunkedStep.Link() {
                    @Override
                    public void backward(
                            java.util.List<Tensor> roots, java.util.List<Tensor> seeds, boolean last, Tensor keep) {
                        backward.run(roots, seeds, last, keep);
                    }
                }
                : new ChunkedSequenceParallel(grid.sequenceParallel(), algorithm, seqChunk, dev, backward);
        Tensor in = ChunkedSequenceParallel.slice(inputs, seqChunk, grid.sp(), grid.spRank())
                .to(dev);
        Tensor tg = ChunkedSequenceParallel.slice(targets, seqChunk, grid.sp(), grid.spRank())
                .to(dev);
        Tensor total = Tensor.of(DType.F64, new double[] {counted}, 1).to(dev);
        fulgur.train.ChunkedStep.Result r = new fulgur.train.ChunkedStep(model, seqChunk, link)
                .run(in, tg, java.util.Map.of(), 0, 1.0 / cfg.accumulation(), false, total);
        return r.loss().item() / cfg.accumulation();
    }

    private String describeSettings() {
        StringBuilder sb = new StringBuilder();
        if (ep > 1) {
            sb.append("; experts split over ").append(ep).append(" ranks");
        }
        if (zeroStage != 0) {
            sb.append("; ZeRO stage ").append(zeroStage);
        }
        if (co2 != null) {
            sb.append("; ").append(co2.describe());
        }
        if (precision != null) {
            sb.append("; ")
                    .append(precision.name().toLowerCase(java.util.Locale.ROOT))
                    .append(" compute, f32 masters");
        }
        return sb.toString();
    }

    private double allReduceSum(double v) {
        try (Scope s = Scope.open("loss")) {
            Tensor t = Tensor.of(DType.F64, new double[] {v}, 1);
            world.allReduce(t, ReduceOp.SUM).await();
            return t.item();
        }
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
}
