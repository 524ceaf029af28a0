package fulgur.avvp;

import fulgur.io.AtomicFiles;
import fulgur.io.DirectoryLock;
import fulgur.io.Json;
import fulgur.nn.Parameter;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import fulgur.train.Divergence;
import fulgur.train.LrSchedule;
import fulgur.train.ResumeCheck;
import fulgur.train.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The training loop of an {@link AvvpModel}: AdamW over its trainable parameters with the learning-rate schedule,
 * gradient accumulation and clipping of {@link TrainConfig} ({@code seqLen} is unused: videos have their segments),
 * periodic evaluation on a set with ground truth, and checkpoints in the language models' layout
 * ({@link Checkpoint}: weights, config.json, optimizer and trainer state), so a resumed run continues with the same
 * batches, learning rates and optimizer state. What happens is reported to a {@link Listener}. As the language models'
 * trainer does, it holds the output directory's lock while it runs, refuses a resumed run with other settings unless
 * allowed, stops on a non-finite loss or gradient norm before the update, and never saves non-finite weights.
 */
public final class AvvpTrainer {

    /** Receives the run's progress (the command line prints it and writes metrics). */
    public interface Listener {
        /** Before the first step of this process; {@code step} > 0 when resumed. */
        default void started(long step) {}

        /** After each optimizer step: the mean loss terms over its micro-batches. */
        void step(long step, double lr, Map<String, Double> losses, double gradNorm, double seconds);

        void evaluated(long step, AvvpMetrics.Scores scores);

        /** A status line for the user (a lock taken over, settings changed on resume). */
        default void message(String line) {}
    }

    /** What a run produced. */
    public record Result(long stepsDone, Map<String, Double> lastLosses, AvvpMetrics.Scores lastEval, Path outDir) {}

    private final AvvpModel model;
    private final TrainConfig cfg;
    private final AvvpDataset train;
    private final AvvpDataset eval;
    private final Map<String, Object> dataSpec;
    private final Path outDir;
    private final Listener listener;
    private long stopAfter = Long.MAX_VALUE;
    private int evalBatchSize = 64;
    private double timeLimitSeconds = Double.POSITIVE_INFINITY;
    private boolean allowChangedSettings;
    private DirectoryLock heldLock;

    /**
     * @param eval     evaluated every {@code cfg.evalEvery()} steps and at the end (null: never)
     * @param dataSpec what the data was (e.g. a synthetic task's settings), kept in the trainer state to find it again
     */
    public AvvpTrainer(
            AvvpModel model,
            TrainConfig cfg,
            AvvpDataset train,
            AvvpDataset eval,
            Map<String, Object> dataSpec,
            Path outDir,
            Listener listener) {
        this.model = model;
        this.cfg = cfg.validate();
        this.train = train;
        this.eval = eval;
        this.dataSpec = dataSpec;
        this.outDir = outDir;
        this.listener = listener;
    }

    /** Stops (after checkpointing) once this many steps are done in total: an interruption on purpose, for tests. */
    public AvvpTrainer stopAfter(long step) {
        this.stopAfter = step;
        return this;
    }

    /** Ends the run (evaluating and checkpointing as at the last step) once this much wall time has passed. */
    public AvvpTrainer timeLimit(double seconds) {
        if (!(seconds > 0)) {
            throw new IllegalArgumentException("time limit must be > 0 seconds, got " + seconds);
        }
        this.timeLimitSeconds = seconds;
        return this;
    }

    /** Lets a resumed run change settings the checkpoint recorded (see {@link fulgur.train.Trainer#allowChangedSettings}). */
    public AvvpTrainer allowChangedSettings(boolean on) {
        this.allowChangedSettings = on;
        return this;
    }

    /** The output directory's lock, already held by the caller; without it {@link #run} takes its own for the run. */
    public AvvpTrainer outputLock(DirectoryLock held) {
        this.heldLock = held;
        return this;
    }

    public AvvpTrainer evalBatchSize(int n) {
        this.evalBatchSize = n;
        return this;
    }

    public Path checkpointDir() {
        return outDir.resolve("checkpoint");
    }

    public Result run(boolean resume) {
        try (DirectoryLock lock = heldLock != null
                ? heldLock.borrow(outDir)
                : DirectoryLock.acquire(outDir, "train", listener::message)) {
            return runChecked(resume);
        } catch (IOException e) {
            throw new UncheckedIOException("training output under " + outDir + ": " + e.getMessage(), e);
        }
    }

    private Result runChecked(boolean resume) throws IOException {
        Files.createDirectories(outDir);
        AvvpSampler sampler = new AvvpSampler(train, cfg.batchSize(), cfg.seed());
        Map<String, Parameter> trainable = model.trainableParameters();
        Map<String, Parameter> decay = new LinkedHashMap<>();
        Map<String, Parameter> noDecay = new LinkedHashMap<>();
        trainable.forEach((n, p) -> (p.decay() ? decay : noDecay).put(n, p));
        AdamW opt = new AdamW(
                List.of(new ParamGroup(decay, cfg.weightDecay(), 1), new ParamGroup(noDecay, 0, 1)),
                cfg.lr(),
                cfg.beta1(),
                cfg.beta2(),
                cfg.eps());
        long step = 0;
        if (resume) {
            Map<String, Object> st = Checkpoint.loadInto(checkpointDir(), model.module(), opt);
            step = ((Number) st.get("step")).longValue();
            ResumeCheck.check(cfg, st, checkpointDir(), allowChangedSettings, listener::message);
            @SuppressWarnings("unchecked")
            Map<String, Object> ds = (Map<String, Object>) st.get("data");
            sampler.restore(ds);
            if (st.get("random_counter") instanceof Number n) {
                model.advanceRandomCounter(n.longValue());
            }
        }
        AtomicFiles.writeString(outDir.resolve("config.json"), model.configJson());
        LrSchedule schedule = cfg.lrSchedule();
        listener.started(step);
        model.module().train(true);
        Map<String, Double> last = Map.of();
        AvvpMetrics.Scores lastEval = null;
        long runStart = System.nanoTime();
        long lastSaved = step;
        try {
            while (step < cfg.steps() && step < stopAfter) {
                double lr = schedule.lr(step);
                long start = System.nanoTime();
                opt.zeroGrad();
                Map<String, Double> sums = new LinkedHashMap<>();
                for (int m = 0; m < cfg.accumulation(); m++) {
                    AvvpBatch batch = sampler.next();
                    try (Scope s = Scope.open("avvp step")) {
                        Map<String, Tensor> terms = model.loss(batch);
                        Tensor loss = terms.get("loss");
                        (cfg.accumulation() == 1 ? loss : loss.mul(1.0 / cfg.accumulation())).backward();
                        terms.forEach((k, v) -> sums.merge(k, v.item() / cfg.accumulation(), Double::sum));
                    }
                }
                step++;
                double gradNorm = cfg.gradClip() > 0
                        ? GradClip.clipGlobalNorm(trainable.values(), cfg.gradClip())
                        : GradClip.globalNorm(trainable.values());
                Divergence.checkStep(
                        step,
                        sums.get("loss"),
                        gradNorm,
                        model.module(),
                        lastSaved); // before the update: the weights stay finite
                opt.setLr(lr);
                opt.step();
                last = sums;
                listener.step(step, lr, sums, gradNorm, (System.nanoTime() - start) / 1e9);
                boolean outOfTime = (System.nanoTime() - runStart) / 1e9 >= timeLimitSeconds;
                boolean end = step == cfg.steps() || outOfTime;
                if (eval != null && ((cfg.evalEvery() > 0 && step % cfg.evalEvery() == 0) || end)) {
                    lastEval = AvvpEvaluation.evaluate(model, eval, evalBatchSize);
                    listener.evaluated(step, lastEval);
                }
                if ((cfg.checkpointEvery() > 0 && step % cfg.checkpointEvery() == 0) || end || step == stopAfter) {
                    Checkpoint.save(
                            checkpointDir(),
                            model.module().stateDict(),
                            model.configJson(),
                            opt,
                            trainerState(step, sampler));
                    lastSaved = step;
                }
                if (outOfTime) {
                    break;
                }
            }
        } finally {
            opt.release();
        }
        return new Result(step, last, lastEval, outDir);
    }

    private Map<String, Object> trainerState(long step, AvvpSampler sampler) {
        Map<String, Object> st = new LinkedHashMap<>();
        st.put("step", step);
        st.put("videos", sampler.position());
        st.put("data", sampler.state());
        st.put("random_counter", model.randomCounter());
        if (dataSpec != null) {
            st.put("data_spec", dataSpec);
        }
        st.put("train_config", Json.mapper().convertValue(cfg, Map.class));
        return st;
    }
}
