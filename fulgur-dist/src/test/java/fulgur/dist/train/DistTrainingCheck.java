package fulgur.dist.train;

import fulgur.backend.Backends;
import fulgur.dist.DistEnv;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.co2.Co2;
import fulgur.dist.co2.Co2Config;
import fulgur.dist.ep.LossShare;
import fulgur.dist.ep.ShardedExperts;
import fulgur.dist.local.LocalWorld;
import fulgur.dist.nccl.NcclProcessGroup;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.dist.store.Rendezvous;
import fulgur.dist.store.TcpStore;
import fulgur.layers.MoeFeedForward;
import fulgur.models.LanguageModel;
import fulgur.models.minimax.MiniMaxConfig;
import fulgur.models.minimax.MiniMaxModel;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.optim.Optimizer;
import fulgur.optim.ParamGroup;
import fulgur.optim.Sgd;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.TrainingListener;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * Checks ZeRO, CO2 and expert parallelism over NCCL with every rank's model on its own GPU (any world size, e.g. one
 * H100 with world size 1), against the same computation on the CPU with the local backend (that many ranks as threads
 * of this process): the all-to-all of variable sizes on device buffers, device tensors and staged CPU tensors; training
 * runs with ZeRO stage 1 and 2 (f32 and bf16) and with the MoE load-balancing loss over the whole batch, their losses
 * step by step; CO2's outer loop (one-step stale, momentum, penalty, clipping) over a few rounds; a MoE layer with its
 * experts split over the ranks (all of them on the one rank of a world of one), output and gradients; and with two or
 * more ranks, `--ep` and `--dp-algo co2` training runs. One line per check; exit status 1 when one failed.
 *
 * <pre>{@code
 * fulgur launch --nproc-per-node N -- java --enable-native-access=ALL-UNNAMED --add-modules jdk.incubator.vector \
 *     -cp 'fulgur-cli/target/fulgur.jar:fulgur-dist/target/fulgur-dist-0.1.0-SNAPSHOT-tests.jar' fulgur.dist.train.DistTrainingCheck
 * }</pre>
 */
public final class DistTrainingCheck {
    private static final List<String> failures = new ArrayList<>();
    private static final Duration TIMEOUT = Duration.ofSeconds(120);

    private DistTrainingCheck() {}

    public static void main(String[] args) throws Exception {
        DistEnv env = DistEnv.fromEnvironment();
        int w = env.worldSize();
        Device dev = Device.cuda(env.localRank());
        try (TcpStore store = Rendezvous.join(env, TIMEOUT);
                NcclProcessGroup pg = NcclProcessGroup.create(store, env.rank(), w, env.localRank(), TIMEOUT)) {
            pg.setComputeStream(Backends.runtime(dev).computeStream());
            System.out.printf("rank %d of %d on %s%n", env.rank(), w, dev);
            allToAll(pg, dev);
            TrainConfig cfg = new TrainConfig(
                    4, 4 * w, 24, 2, 3e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
            Supplier<LanguageModel> tnl = () -> new TnlModel(DistributedTrainerTest.CONFIG, 11);
            compare("ZeRO stage 2", pg, dev, tnl, cfg, w, t -> t.zero(2), 1e-4);
            compare(
                    "ZeRO stage 1, bf16 compute",
                    pg,
                    dev,
                    tnl,
                    cfg,
                    w,
                    t -> t.zero(1).precision(DType.BF16),
                    2e-2);
            compare(
                    "MoE (8 experts) with the load-balancing loss over the batch",
                    pg,
                    dev,
                    DistTrainingCheck::minimax,
                    cfg,
                    w,
                    t -> t,
                    1e-4);
            if (w >= 2) {
                compare("--ep " + w, pg, dev, DistTrainingCheck::minimax, cfg, w, t -> t.expertParallel(w), 1e-4);
                compare(
                        "--dp-algo co2, τ 2",
                        pg,
                        dev,
                        tnl,
                        cfg,
                        w,
                        t -> t.co2(new Co2Config(2, 0.9, 0.3, 0.05, 1.5, 1)),
                        1e-4);
            }
            co2Loop(pg, dev);
            splitExperts(pg, dev);
            pg.barrier().await();
            Rendezvous.barrier(store, env, "dist-training-check", TIMEOUT);
        } catch (RuntimeException e) {
            e.printStackTrace();
            failures.add("exception: " + e);
        }
        System.out.println(
                failures.isEmpty() ? "DIST TRAINING CHECK PASSED" : "DIST TRAINING CHECK FAILED: " + failures);
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    private static void check(String what, boolean ok, String detail) {
        System.out.printf("[%s] %s%s%n", ok ? "ok" : "FAILED", what, detail.isEmpty() ? "" : " (" + detail + ")");
        if (!ok) {
            failures.add(what);
        }
    }

    static LanguageModel minimax() {
        String json = MiniMaxConfig.small(DistributedTrainerTest.VOCAB, 16, 2, 2)
                .toJson()
                .replaceAll("\"num_local_experts\" : [0-9]+", "\"num_local_experts\" : 8")
                .replaceAll("\"router_aux_loss_coef\" : [0-9.eE-]+", "\"router_aux_loss_coef\" : 0.2");
        return new MiniMaxModel(MiniMaxConfig.parse(json), 3);
    }

    /** Rank s sends ((s + 2d) % 3 + (d == s ? 1 : 0)) rows of 5 values 100·s + d to rank d (none to some peers from 4 ranks on). */
    static void allToAll(ProcessGroup pg, Device dev) {
        int n = pg.size(), r = pg.rank(), width = 5;
        long[] send = new long[n];
        long[] recv = new long[n];
        List<Float> values = new ArrayList<>();
        for (int d = 0; d < n; d++) {
            send[d] = ((r + 2 * d) % 3 + (d == r ? 1 : 0)) * width;
            recv[d] = ((d + 2 * r) % 3 + (d == r ? 1 : 0)) * width;
            for (int i = 0; i < send[d]; i++) {
                values.add(100f * r + d);
            }
        }
        float[] in = new float[values.size()];
        for (int i = 0; i < in.length; i++) {
            in[i] = values.get(i);
        }
        List<Float> want = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < recv[s]; i++) {
                want.add(100f * s + r);
            }
        }
        for (Device where : new Device[] {dev, Device.CPU}) {
            try (Scope s = Scope.open()) {
                Tensor out = Tensor.zeros(DType.F32, where, want.size());
                pg.allToAll(Tensor.of(in, in.length).to(where), send, out, recv).await();
                float[] got = out.toFloatArray();
                boolean ok = got.length == want.size();
                for (int i = 0; ok && i < got.length; i++) {
                    ok = got[i] == want.get(i);
                }
                check(
                        "allToAll of variable sizes, "
                                + (where.kind() == Device.Kind.CPU
                                        ? "CPU tensors staged through the device"
                                        : "device tensors in place"),
                        ok,
                        got.length + " elements received");
            }
        }
    }

    /** Rank 0's losses of a run of {@code steps} over {@code group} (NCCL, the model on {@code dev}) or the local backend on the CPU. */
    private static List<Double> losses(
            ProcessGroup group,
            Device dev,
            Supplier<LanguageModel> model,
            TrainConfig cfg,
            int world,
            UnaryOperator<DistributedTrainer> setup)
            throws Exception {
        List<Double> out = new java.util.concurrent.CopyOnWriteArrayList<>();
        TrainingListener listener = new TrainingListener() {
            @Override
            public void stepDone(Step step) {
                out.add(step.loss());
            }
        };
        Path dir = Files.createTempDirectory("dist-check");
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        if (group != null) {
            try (LanguageModel m = model.get()) {
                m.module().to(dev);
                DistributedTrainer t = new DistributedTrainer(
                        group,
                        world,
                        1,
                        SpAlgorithm.LASP2,
                        m,
                        cfg,
                        GlobalBatches.own(new DistributedTrainerTest.RandomBatches(cfg.batchSize(), cfg.seqLen())),
                        null,
                        dir,
                        quiet,
                        4096);
                setup.apply(t.listener(listener)).run(false);
            }
        } else {
            GlobalBatches.Shared shared = new GlobalBatches.Shared(
                    new DistributedTrainerTest.RandomBatches(cfg.batchSize(), cfg.seqLen()), world);
            LocalWorld.run(world, TIMEOUT, pg -> {
                try (LanguageModel m = model.get()) {
                    DistributedTrainer t = new DistributedTrainer(
                            pg, world, 1, SpAlgorithm.LASP2, m, cfg, shared.forRank(pg.rank()), null, dir, quiet, 4096);
                    return setup.apply(pg.rank() == 0 ? t.listener(listener) : t)
                            .run(false);
                }
            });
        }
        return out;
    }

    static void compare(
            String what,
            ProcessGroup pg,
            Device dev,
            Supplier<LanguageModel> model,
            TrainConfig cfg,
            int world,
            UnaryOperator<DistributedTrainer> setup,
            double tol)
            throws Exception {
        List<Double> gpu = losses(pg, dev, model, cfg, world, setup);
        List<Double> cpu = pg.rank() == 0 ? losses(null, dev, model, cfg, world, setup) : gpu;
        if (pg.rank() != 0) {
            return;
        }
        double worst = 0;
        for (int s = 0; s < cpu.size(); s++) {
            worst = Math.max(worst, Math.abs(gpu.get(s) - cpu.get(s)) / Math.abs(cpu.get(s)));
        }
        check(
                what + ": " + cfg.steps() + " steps over NCCL on " + world
                        + " GPU rank(s) vs the local backend on the CPU",
                gpu.size() == cfg.steps() && cpu.size() == cfg.steps() && worst < tol,
                String.format("losses %s vs %s, worst relative difference %.2e", gpu, cpu, worst));
    }

    /** Linear(4→6) → SiLU → RMSNorm → Linear(6→2), squared error on rank- and step-seeded data. */
    static final class Net extends fulgur.nn.Module {
        final fulgur.nn.Linear a;
        final fulgur.nn.RMSNorm n;
        final fulgur.nn.Linear b;

        Net() {
            Rng rng = new Rng(3);
            a = child("a", new fulgur.nn.Linear(4, 6, true, rng));
            n = child("n", new fulgur.nn.RMSNorm(6, 1e-5, true));
            b = child("b", new fulgur.nn.Linear(6, 2, true, rng));
        }

        Tensor loss(int rank, int step, Device dev) {
            Random rnd = new Random(17L * rank + 1000L * step);
            float[] x = new float[3 * 4];
            float[] y = new float[3 * 2];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextGaussian();
            }
            for (int i = 0; i < y.length; i++) {
                y[i] = (float) rnd.nextGaussian();
            }
            Tensor out =
                    b.forward(n.forward(a.forward(Tensor.of(x, 3, 4).to(dev)).silu()));
            return out.sub(Tensor.of(y, 3, 2).to(dev)).pow(2).mean();
        }

        double[] flat() {
            List<double[]> parts = new ArrayList<>();
            for (Parameter p : parameters()) {
                parts.add(p.value().toDoubleArray());
            }
            return fulgur.dist.TestArrays.concat(parts);
        }
    }

    /** A small network's parameters (flat) after 7 SGD steps with CO2 (τ 3) on {@code group}, its model on {@code dev}. */
    private static double[] co2Run(ProcessGroup group, Device dev) {
        try (Net net = new Net()) {
            net.to(dev);
            Optimizer opt = new Sgd(ParamGroup.all(net, 0), 0.05, 0.5, false);
            Co2Config cfg = new Co2Config(3, 0.8, 0.5, 0.02, 1.5, 1);
            try (Co2 co2 =
                    new Co2(net.parameters().stream().map(Parameter::value).toList(), group, cfg, null)) {
                for (int s = 0; s < 7; s++) {
                    opt.zeroGrad();
                    try (Scope sc = Scope.open()) {
                        net.loss(group.rank(), s, dev).backward();
                    }
                    opt.step();
                    co2.afterInnerStep();
                }
            }
            return net.flat();
        }
    }

    static void co2Loop(ProcessGroup pg, Device dev) {
        double[] gpu = co2Run(pg, dev);
        List<double[]> cpu = LocalWorld.run(pg.size(), TIMEOUT, g -> co2Run(g, Device.CPU));
        double err = fulgur.dist.TestArrays.maxRelErr(gpu, cpu.get(pg.rank()));
        check(
                "CO2 outer loop (τ 3, stale, momentum, penalty, clipping) over NCCL vs the local backend",
                err < 1e-4,
                String.format("max relative error %.2e", err));
    }

    /** A MoE layer's experts (8 on one rank, else 2 per rank) split over the ranks (on the GPU) against the layer on the CPU on one rank with every token. */
    static void splitExperts(ProcessGroup pg, Device dev) {
        int w = pg.size(), d = 6, e = w == 1 ? 8 : 2 * w, tokens = 5;
        try (Scope s = Scope.open()) {
            Random rnd = new Random(9);
            float[] all = new float[w * tokens * d];
            float[] proj = new float[all.length];
            for (int i = 0; i < all.length; i++) {
                all[i] = (float) rnd.nextGaussian();
                proj[i] = (float) rnd.nextGaussian();
            }
            MoeFeedForward.Routing routing = new MoeFeedForward.Routing(e, 2, MoeFeedForward.Gating.SOFTMAX, true, 0.5);
            double[] want;
            double wantLoss;
            try (MoeFeedForward one = new MoeFeedForward(d, 8, routing, new Rng(3), DType.F32)) {
                Tensor x = Tensor.of(all, w * tokens, d).requiresGrad(true);
                Tensor loss =
                        one.forward(x).mul(Tensor.of(proj, w * tokens, d)).sum().add(one.auxLoss());
                loss.backward();
                wantLoss = loss.item();
                want = x.grad()
                        .narrow(0, pg.rank() * tokens, tokens)
                        .contiguous()
                        .toDoubleArray();
            }
            try (MoeFeedForward split = new MoeFeedForward(d, 8, routing, new Rng(3), DType.F32)) {
                split.to(dev);
                LossShare share = new LossShare();
                share.set(1.0 / w);
                split.placement(new ShardedExperts(pg, pg, share, e));
                float[] mine = java.util.Arrays.copyOfRange(all, pg.rank() * tokens * d, (pg.rank() + 1) * tokens * d);
                float[] p = java.util.Arrays.copyOfRange(proj, pg.rank() * tokens * d, (pg.rank() + 1) * tokens * d);
                Tensor x = Tensor.of(mine, tokens, d).to(dev).requiresGrad(true);
                Tensor loss = split.forward(x)
                        .mul(Tensor.of(p, tokens, d).to(dev))
                        .sum()
                        .add(split.auxLoss().mul(1.0 / w));
                loss.backward();
                Tensor total = Tensor.of(new double[] {loss.item()}, 1);
                pg.allReduce(total, ReduceOp.SUM).await();
                double err = fulgur.dist.TestArrays.maxRelErr(x.grad().toDoubleArray(), want);
                double lossErr = Math.abs(total.item() - wantLoss) / Math.abs(wantLoss);
                check(
                        "MoE layer with " + e + " experts split over " + w
                                + " GPU rank(s), all-to-all over NCCL, vs one CPU rank",
                        err < 1e-4 && lossErr < 1e-5,
                        String.format(
                                "loss %.6f vs %.6f, input gradient max relative error %.2e",
                                total.item(), wantLoss, err));
            }
        }
    }
}
