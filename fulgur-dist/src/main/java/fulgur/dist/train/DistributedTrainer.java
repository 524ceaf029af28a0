package fulgur.dist.train;

import fulgur.data.Batch;
import fulgur.dist.ParallelGrid;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.sp.ChunkedSequenceParallel;
import fulgur.dist.sp.SequenceLayout;
import fulgur.dist.sp.SequenceParallel;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.io.Json;
import fulgur.models.CausalLM;
import fulgur.models.SequenceShard;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
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
 */
public final class DistributedTrainer {

    /** What a run produced; {@code peakMemoryGib}: this rank's device memory on a GPU, the process's host memory on the CPU. */
    public record Result(long stepsDone, double lastTrainLoss, Map<String, Double> lastEval, double tokensPerSecond, double peakMemoryGib) {}

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
    private boolean allowChangedSettings;
    private fulgur.io.DirectoryLock heldLock;
    private List<Path> companions = List.of();

    public DistributedTrainer(ProcessGroup world, int dp, int sp, SpAlgorithm algorithm, CausalLM model, TrainConfig cfg, GlobalBatches data,
            Evaluator evaluator, Path outDir, PrintStream out, long bucketElements) {
        this.cfg = cfg.validate();
        if (cfg.batchSize() % dp != 0) {
            throw new IllegalArgumentException("data parallelism: a batch of " + cfg.batchSize() + " sequences does not split over --dp " + dp
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

    /** Lets a resumed run change settings the checkpoint recorded (see {@link fulgur.train.Trainer#allowChangedSettings}). */
    public DistributedTrainer allowChangedSettings(boolean on) {
        this.allowChangedSettings = on;
        return this;
    }

    /** The output directory's lock, held by the caller (rank 0 only); without it rank 0 takes its own for the run. */
    public DistributedTrainer outputLock(fulgur.io.DirectoryLock held) {
        this.heldLock = held;
        return this;
    }

    /** Files copied into every checkpoint beside the weights: the tokenizer's ({@link fulgur.tokenizer.TokenizerFiles}). */
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
     */
    public DistributedTrainer sequenceChunk(int tokens) {
        if (tokens < 0) {
            throw new IllegalArgumentException("the sequence chunk must be >= 1 token (0: whole slices), got " + tokens);
        }
        this.seqChunk = tokens;
        return this;
    }

    /** Reports the run (on the leading rank) to {@code listener} instead of printing status lines and evaluations. */
    public DistributedTrainer listener(TrainingListener listener) {
        this.listener = java.util.Objects.requireNonNull(listener, "listener");
        return this;
    }

    public Result run(boolean resume) {
        try (fulgur.io.DirectoryLock lock = !leader() ? null
                : heldLock != null ? heldLock.borrow(outDir) : fulgur.io.DirectoryLock.acquire(outDir, "train", listener::message)) {
            return runChecked(resume);
        } catch (IOException e) {
            throw new UncheckedIOException("training output under " + outDir + ": " + e.getMessage(), e);
        }
    }

    private Result runChecked(boolean resume) throws IOException {
        AdamW opt = new AdamW(ParamGroup.decayAndNoDecay(model.module(), cfg.weightDecay()), cfg.lr(), cfg.beta1(), cfg.beta2(), cfg.eps());
        LrSchedule schedule = cfg.lrSchedule();
        Path ckpt = outDir.resolve("checkpoint");
        long step = 0, tokens = 0;
        if (resume) {
            Map<String, Object> st = Checkpoint.load(ckpt, model, opt);
            step = ((Number) st.get("step")).longValue();
            fulgur.train.ResumeCheck.check(cfg, st, ckpt, allowChangedSettings, leader() ? listener::message : line -> {});
            tokens = ((Number) st.getOrDefault("tokens", 0)).longValue();
            @SuppressWarnings("unchecked")
            Map<String, Object> ds = (Map<String, Object>) st.get("data");
            data.restore(ds);
            if (leader()) {
                listener.message("resumed from " + ckpt + " at step " + step);
            }
        } else if (leader()) {
            Files.createDirectories(outDir);
        }
        if (leader()) {
            fulgur.io.AtomicFiles.writeString(outDir.resolve("config.json"), model.configJson());
            listener.message(String.format("distributed: %d ranks (%s backend) = dp %d × sp %d, sequence parallelism %s; %d tokens per rank and sequence",
                    world.size(), world.backend(), grid.dp(), grid.sp(), algorithm.label(), cfg.seqLen() / grid.sp()));
            if (chunked()) {
                listener.message(String.format("sequence chunks: each rank walks its %,d tokens in chunks of %,d (%d rounds of %,d tokens over the group)",
                        cfg.seqLen() / grid.sp(), seqChunk, new fulgur.train.ChunkPlan(cfg.seqLen() / grid.sp(), seqChunk).count(), seqChunk * grid.sp()));
            }
        }
        SequenceLayout layout = SequenceLayout.even(cfg.seqLen(), grid.sp());
        SequenceShard shard = grid.sp() == 1 ? SequenceShard.WHOLE : SequenceParallel.shard(grid.sequenceParallel(), algorithm, layout);
        int rows = cfg.batchSize() / grid.dp();
        long tokensPerStep = (long) cfg.batchSize() * cfg.seqLen() * cfg.accumulation();
        double lastLoss = Double.NaN;
        Map<String, Double> lastEval = Map.of();
        long t0 = System.nanoTime();
        long startTokens = tokens;
        long lastSaved = step;
        fulgur.backend.DeviceRuntime backend = fulgur.backend.Backends.runtime(model.module().device());
        backend.resetPeakMemory();
        if (leader()) {
            listener.runStarted(new TrainingListener.Start(outDir, step, cfg.steps(), tokens, resume));
        }
        try (GradientSync sync = new GradientSync(model.module().parameters(), world, 1.0, bucketElements)) {
            while (step < cfg.steps()) {
                double lr = schedule.lr(step);
                long stepStart = System.nanoTime();
                opt.setLr(lr);
                opt.zeroGrad();
                double lossSum = 0;
                for (int micro = 0; micro < cfg.accumulation(); micro++) {
                    try (Scope s = Scope.open("step")) {
                        Batch b = data.next();
                        if (b.batch() != cfg.batchSize() || b.seqLen() != cfg.seqLen()) {
                            throw new IllegalStateException("data source gave a " + b.batch() + " × " + b.seqLen() + " batch, expected "
                                    + cfg.batchSize() + " × " + cfg.seqLen());
                        }
                        Tensor all = Tensor.ofInts(b.inputs(), b.batch(), b.seqLen());
                        Tensor allTargets = Tensor.ofInts(b.targets(), b.batch(), b.seqLen());
                        fulgur.tensor.Device dev = model.module().device();
                        if (chunked()) {
                            boolean lastMicro = micro == cfg.accumulation() - 1;
                            lossSum += chunkedStep(sync, all.narrow(0, grid.dpRank() * rows, rows), allTargets.narrow(0, grid.dpRank() * rows, rows),
                                    SequenceParallel.countTargets(b.targets()), lastMicro, dev);
                            continue;
                        }
                        Tensor in = SequenceParallel.slice(all.narrow(0, grid.dpRank() * rows, rows), layout, grid.spRank());
                        Tensor tg = SequenceParallel.slice(allTargets.narrow(0, grid.dpRank() * rows, rows), layout, grid.spRank());
                        Tensor mean = model.loss(in.to(dev), tg.reshape(-1).to(dev), shard);
                        long local = SequenceParallel.countTargets(tg.toIntArray());
                        Tensor loss = SequenceParallel.weightedLoss(mean, local, SequenceParallel.countTargets(b.targets()));
                        if (cfg.accumulation() > 1) {
                            loss = loss.mul(1.0 / cfg.accumulation());
                        }
                        // only the loss is read after the backward: activations are freed as the backward passes them
                        sync.backward(loss, micro == cfg.accumulation() - 1, fulgur.autograd.Autograd.Free.GRADIENTS_AND_ACTIVATIONS);
                        lossSum += loss.item();
                    }
                }
                double gradNorm = cfg.gradClip() > 0 ? GradClip.clipGlobalNorm(opt.parameters(), cfg.gradClip()) : GradClip.globalNorm(opt.parameters());
                // every rank holds the same summed gradients, so all of them stop here together, before the update
                lastLoss = allReduceSum(lossSum);
                fulgur.train.Divergence.checkStep(step + 1, lastLoss, gradNorm, model.module(), lastSaved);
                opt.step();
                step++;
                tokens += tokensPerStep;
                if (leader()) {
                    double tps = (tokens - startTokens) / Math.max((System.nanoTime() - t0) / 1e9, 1e-9);
                    listener.stepDone(new TrainingListener.Step(step, tokens, lastLoss, lr, gradNorm, tps, (System.nanoTime() - stepStart) / 1e9,
                            backend.peakMemoryBytes() / GIB));
                }
                boolean last = step == cfg.steps();
                if (leader() && evaluator != null && ((cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || last)) {
                    lastEval = evaluate();
                    fulgur.train.Divergence.checkEval(step, lastEval, model.module(), lastSaved);
                    listener.evalDone(new TrainingListener.Eval(step, lastEval));
                }
                if (leader() && ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) || last)) {
                    Map<String, Object> st = new LinkedHashMap<>();
                    st.put("step", step);
                    st.put("tokens", tokens);
                    st.put("data", data.state());
                    st.put("train_config", Json.mapper().convertValue(cfg, Map.class));
                    st.put("parallel", Map.of("dp", grid.dp(), "sp", grid.sp(), "algorithm", algorithm.label()));
                    Checkpoint.save(ckpt, model.module().stateDict(), model.configJson(), opt, st, companions);
                    lastSaved = step;
                    listener.checkpointSaved(step, ckpt);
                }
            }
        }
        double tps = (tokens - startTokens) / Math.max((System.nanoTime() - t0) / 1e9, 1e-9);
        if (leader()) {
            listener.runFinished(step);
        }
        world.barrier().await();
        opt.release();
        return new Result(step, lastLoss, lastEval, tps, backend.peakMemoryBytes() / GIB);
    }

    private boolean chunked() {
        return seqChunk > 0 && cfg.seqLen() / grid.sp() > seqChunk;
    }

    /**
     * One micro-batch walked in chunks: this rank's pieces of every round, the group on one round at a time; gradients
     * accumulate over the chunks and are synchronised in the backward of the last chunk of the last micro-batch.
     * Returns this rank's share of the loss.
     */
    private double chunkedStep(GradientSync sync, Tensor inputs, Tensor targets, long counted, boolean lastMicro, fulgur.tensor.Device dev) {
        ChunkedSequenceParallel.Backward backward = (roots, seeds, last, keep) ->
                sync.backward(roots, seeds, lastMicro && last, fulgur.autograd.Autograd.Free.GRADIENTS_AND_ACTIVATIONS, keep);
        fulgur.train.ChunkedStep.Link link = grid.sp() == 1
                ? new fulgur.train.ChunkedStep.Link() {
                    @Override
                    public void backward(java.util.List<Tensor> roots, java.util.List<Tensor> seeds, boolean last, Tensor keep) {
                        backward.run(roots, seeds, last, keep);
                    }
                }
                : new ChunkedSequenceParallel(grid.sequenceParallel(), algorithm, seqChunk, dev, backward);
        Tensor in = ChunkedSequenceParallel.slice(inputs, seqChunk, grid.sp(), grid.spRank()).to(dev);
        Tensor tg = ChunkedSequenceParallel.slice(targets, seqChunk, grid.sp(), grid.spRank()).to(dev);
        Tensor total = Tensor.of(DType.F64, new double[] {counted}, 1).to(dev);
        fulgur.train.ChunkedStep.Result r = new fulgur.train.ChunkedStep(model, seqChunk, link)
                .run(in, tg, java.util.Map.of(), 0, 1.0 / cfg.accumulation(), false, total);
        return r.loss().item() / cfg.accumulation();
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
        try (Scope s = Scope.open("eval"); var g = fulgur.autograd.GradMode.noGrad()) {
            return evaluator.evaluate(model);
        } finally {
            model.module().train(was);
        }
    }

}
