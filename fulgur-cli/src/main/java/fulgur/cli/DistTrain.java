package fulgur.cli;

import fulgur.cli.report.RunReport;
import fulgur.dist.DistEnv;
import fulgur.dist.ProcessGroup;
import fulgur.dist.local.LocalWorld;
import fulgur.dist.nccl.NcclProcessGroup;
import fulgur.dist.store.Rendezvous;
import fulgur.dist.store.TcpStore;
import fulgur.dist.train.DistributedTrainer;
import fulgur.dist.train.GlobalBatches;
import fulgur.io.DirectoryLock;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.train.TrainConfig;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** `fulgur train --sp N --dp M`: the local backend (ranks as threads) or NCCL (one process per rank). */
final class DistTrain {
    private DistTrain() {}

    static DistributedTrainer.Result run(
            DataOptions data,
            ModelOptions modelOpts,
            ParallelOptions par,
            TrainConfig cfg,
            int seqChunk,
            Path out,
            boolean resume,
            boolean allowChanges,
            fulgur.tensor.DType precision)
            throws Exception {
        par.validate();
        int world = par.world();
        Duration timeout = Duration.ofSeconds(par.timeoutSeconds);
        if (resume) {
            DistributedTrainer.checkResumable(out.resolve("checkpoint"), par.co2() != null, par.dp * par.ep);
        }
        if (par.backend.equals("local")) {
            DistEnv env = DistEnv.fromEnvironment();
            if (env.isDistributed()) {
                throw new IllegalArgumentException("the local backend runs all " + world
                        + " ranks as threads of this one process, but this process was started as rank " + env.rank()
                        + " of " + env.worldSize() + " (" + env.source()
                        + "); use --backend nccl under 'fulgur launch', or drop the launcher");
            }
            data.tokenizerDefaultFrom = modelOpts.init;
            // all ranks are threads of this process: it holds the output directory for rank 0, which alone writes there
            try (DirectoryLock lock = DirectoryLock.acquire(out, "train", System.out::println)) {
                DataOptions.Prepared p = data.prepare(cfg.batchSize(), cfg.seqLen(), cfg.seed(), seqChunk);
                String mc = modelConfig(modelOpts, p, out, resume, cfg.seed());
                System.out.println("data: " + p.description());
                copyTokenizer(p, out);
                GlobalBatches.Shared shared = new GlobalBatches.Shared(p.train(), world);
                PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
                if (!par.link().isFree()) {
                    System.out.println("local backend: simulated link of " + par.link());
                }
                List<DistributedTrainer.Result> rs;
                try (LocalWorld lw = new LocalWorld(world, timeout, par.link())) {
                    rs = lw.runAll(pg -> {
                        try (LanguageModel model = resume
                                ? Architectures.forConfig(mc).build(mc, cfg.seed())
                                : modelOpts.create(mc, cfg.seed())) {
                            if (pg.rank() == 0) {
                                System.out.printf(
                                        "model: %s, %,d parameters (one replica per rank)%n",
                                        model.describe(), model.parameterCount());
                            }
                            // split experts evaluate on every rank together
                            DistributedTrainer t = trainer(
                                            pg,
                                            par,
                                            model,
                                            cfg,
                                            shared.forRank(pg.rank()),
                                            pg.rank() == 0 || par.ep > 1 ? p.eval() : null,
                                            out,
                                            pg.rank() == 0 ? System.out : quiet,
                                            precision)
                                    .allowChangedSettings(allowChanges)
                                    .checkpointCompanions(p.tokenizerFiles())
                                    .sequenceChunk(seqChunk);
                            return (pg.rank() == 0 ? t.outputLock(lock) : t).run(resume);
                        }
                    });
                } catch (fulgur.dist.DistException e) {
                    // settings every rank refuses alike (experts that do not split, ...): their one line, not the
                    // rank's failure
                    if (e.getCause() instanceof IllegalArgumentException bad) {
                        throw bad;
                    }
                    throw e;
                }
                return report(rs.get(0), out);
            }
        }
        DistEnv env = DistEnv.fromEnvironment();
        if (env.worldSize() != world) {
            throw new IllegalArgumentException("--dp " + par.dp + (par.ep > 1 ? " × --ep " + par.ep : "") + " × --sp "
                    + par.sp + " = " + world + " ranks, but this job has " + env.worldSize() + " (" + env.source()
                    + "); start it with 'fulgur launch --nproc-per-node " + world + " train ...'");
        }
        boolean leader = env.rank() == 0;
        PrintStream o = leader ? System.out : new PrintStream(OutputStream.nullOutputStream());
        // rank 0 alone writes under OUT, and holds it from the start: a second job on the same directory stops here
        try (DirectoryLock lock = leader ? DirectoryLock.acquire(out, "train", System.out::println) : null;
                TcpStore store = Rendezvous.join(env, timeout);
                NcclProcessGroup pg =
                        NcclProcessGroup.create(store, env.rank(), env.worldSize(), env.localRank(), timeout)) {
            data.tokenizerDefaultFrom = modelOpts.init;
            DataOptions.Prepared p = data.prepare(cfg.batchSize(), cfg.seqLen(), cfg.seed(), seqChunk);
            String mc = modelConfig(modelOpts, p, out, resume, cfg.seed());
            o.println("data: " + p.description());
            if (leader) {
                copyTokenizer(p, out);
            }
            DistributedTrainer.Result r;
            try (LanguageModel model =
                    resume ? Architectures.forConfig(mc).build(mc, cfg.seed()) : modelOpts.create(mc, cfg.seed())) {
                String where = "rank " + env.rank() + " on the CPU, NCCL staging through GPU " + env.localRank();
                if (modelOpts.device().kind() == fulgur.tensor.Device.Kind.CUDA) {
                    // each rank trains on its own GPU; collectives wait for the backend's stream and work in place
                    fulgur.tensor.Device dev = fulgur.tensor.Device.cuda(env.localRank());
                    model.module().to(dev);
                    pg.setComputeStream(fulgur.backend.Backends.runtime(dev).computeStream());
                    where = "rank " + env.rank() + " on " + dev;
                }
                o.printf("model: %s, %,d parameters; %s%n", model.describe(), model.parameterCount(), where);
                // split experts evaluate on every rank together
                DistributedTrainer t = trainer(
                                pg,
                                par,
                                model,
                                cfg,
                                GlobalBatches.own(p.train()),
                                leader || par.ep > 1 ? p.eval() : null,
                                out,
                                o,
                                precision)
                        .allowChangedSettings(allowChanges)
                        .checkpointCompanions(p.tokenizerFiles())
                        .sequenceChunk(seqChunk);
                r = (leader ? t.outputLock(lock) : t).run(resume);
            }
            Rendezvous.barrier(store, env, "train-done", timeout);
            return leader ? report(r, out) : r;
        }
    }

    private static DistributedTrainer trainer(
            ProcessGroup pg,
            ParallelOptions par,
            LanguageModel model,
            TrainConfig cfg,
            GlobalBatches data,
            fulgur.train.Evaluator eval,
            Path out,
            PrintStream o,
            fulgur.tensor.DType precision) {
        DistributedTrainer t = new DistributedTrainer(
                        pg,
                        par.dp * par.ep,
                        par.sp,
                        par.algorithm(),
                        model,
                        cfg,
                        data,
                        eval,
                        out,
                        o,
                        par.bucketElements())
                .expertParallel(par.ep)
                .zero(par.zero)
                .co2(par.co2())
                .precision(precision);
        String title = "fulgur training loss (dp " + par.dp + (par.ep > 1 ? " × ep " + par.ep : "") + " × sp " + par.sp
                + (par.co2() != null ? ", CO2 τ " + par.co2().tau() : "") + (par.zero != 0 ? ", ZeRO-" + par.zero : "")
                + ")";
        return pg.rank() == 0 ? t.listener(new RunReport(o, title)) : t;
    }

    private static String modelConfig(
            ModelOptions modelOpts, DataOptions.Prepared p, Path out, boolean resume, long seed) {
        if (resume) {
            return modelOpts.resumed(out.resolve("checkpoint"), p.vocab(), seed, modelOpts.given);
        }
        return modelOpts.build(p.vocab(), seed);
    }

    private static void copyTokenizer(DataOptions.Prepared p, Path out) throws java.io.IOException {
        Files.createDirectories(out);
        if (!p.tokenizerFiles().isEmpty()) {
            fulgur.tokenizer.TokenizerFiles.copy(p.tokenizerFiles(), out);
        }
    }

    private static DistributedTrainer.Result report(DistributedTrainer.Result r, Path out) {
        System.out.printf(
                "done: %d steps, last train loss %.4f%s, %.0f tokens/s, peak memory %.2f GiB; outputs in %s%n",
                r.stepsDone(),
                r.lastTrainLoss(),
                r.lastEval().isEmpty() ? "" : ", " + fulgur.train.Trainer.describe(r.lastEval()),
                r.tokensPerSecond(),
                r.peakMemoryGib(),
                out.toAbsolutePath());
        return r;
    }
}
