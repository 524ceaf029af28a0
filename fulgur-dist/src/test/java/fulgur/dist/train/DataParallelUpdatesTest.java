package fulgur.dist.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.co2.Co2Config;
import fulgur.dist.local.LocalWorld;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** ZeRO and CO2 through the distributed trainer: what they compute, their checkpoints, and the settings they refuse. */
class DataParallelUpdatesTest {
    static final Duration T = Duration.ofSeconds(120);
    static final DistributedTrainerTest.Losses LOSSES = DistributedTrainerTest.LOSSES;

    static TrainConfig constant(int steps) {
        return new TrainConfig(
                steps, 4, 26, 2, 3e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
    }

    /** A run of {@code world} ranks as dp × sp with the trainer configured by {@code setup}. */
    static void run(
            int dp, int sp, TrainConfig cfg, Path out, boolean resume, UnaryOperator<DistributedTrainer> setup) {
        run(() -> new TnlModel(DistributedTrainerTest.CONFIG, 11), dp, sp, cfg, out, resume, setup);
    }

    static void run(
            java.util.function.Supplier<fulgur.models.LanguageModel> model,
            int dp,
            int sp,
            TrainConfig cfg,
            Path out,
            boolean resume,
            UnaryOperator<DistributedTrainer> setup) {
        run(model, dp, sp, cfg, out, resume, setup, null);
    }

    /** With {@code eval} (on every rank) when not null; returns rank 0's result. */
    static DistributedTrainer.Result run(
            java.util.function.Supplier<fulgur.models.LanguageModel> model,
            int dp,
            int sp,
            TrainConfig cfg,
            Path out,
            boolean resume,
            UnaryOperator<DistributedTrainer> setup,
            fulgur.train.Evaluator eval) {
        GlobalBatches.Shared shared = new GlobalBatches.Shared(
                new DistributedTrainerTest.RandomBatches(cfg.batchSize(), cfg.seqLen()), dp * sp);
        return LocalWorld.run(dp * sp, T, pg -> {
                    try (fulgur.models.LanguageModel m = model.get()) {
                        DistributedTrainer t = new DistributedTrainer(
                                        pg,
                                        dp,
                                        sp,
                                        SpAlgorithm.LASP2,
                                        m,
                                        cfg,
                                        shared.forRank(pg.rank()),
                                        eval,
                                        out,
                                        new PrintStream(new ByteArrayOutputStream()),
                                        700)
                                .listener(LOSSES);
                        return setup.apply(t).run(resume);
                    }
                })
                .get(0);
    }

    static List<Double> losses(Path dir) {
        return DistributedTrainerTest.losses(dir);
    }

    static void assertClose(List<Double> got, List<Double> want, double tol) {
        assertThat(got).hasSameSizeAs(want);
        for (int s = 0; s < want.size(); s++) {
            assertThat(Math.abs(got.get(s) - want.get(s)) / Math.abs(want.get(s)))
                    .as("step %d: %s vs %s", s + 1, got.get(s), want.get(s))
                    .isLessThan(tol);
        }
    }

    @Test
    void zeroStepsEqualSynchronousOnesWithSequenceParallelism(@TempDir Path dir) {
        run(2, 2, constant(3), dir.resolve("sync"), false, t -> t);
        run(2, 2, constant(3), dir.resolve("zero1"), false, t -> t.zero(1));
        run(2, 2, constant(3), dir.resolve("zero2"), false, t -> t.zero(2));
        assertClose(losses(dir.resolve("zero1")), losses(dir.resolve("sync")), 2e-6);
        assertClose(losses(dir.resolve("zero2")), losses(dir.resolve("sync")), 2e-6);
    }

    @Test
    void zeroWithBf16ShardsTheF32Masters(@TempDir Path dir) {
        run(4, 1, constant(3), dir.resolve("sync"), false, t -> t.precision(DType.BF16));
        run(
                4,
                1,
                constant(3),
                dir.resolve("zero"),
                false,
                t -> t.precision(DType.BF16).zero(2));
        assertClose(losses(dir.resolve("zero")), losses(dir.resolve("sync")), 1e-5);
        // the checkpoint's weights are the f32 masters, as an unsharded mixed-precision run writes them
        assertThat(Checkpoint.resolve(dir.resolve("zero").resolve("checkpoint")))
                .isNotNull();
    }

    @Test
    void shardedAndUnshardedRunsResumeEachOthersCheckpoints(@TempDir Path dir) throws Exception {
        run(2, 1, constant(4), dir.resolve("full"), false, t -> t);
        // sharded for two steps, unsharded for the rest; and the other way round with another world size
        run(2, 1, constant(2), dir.resolve("a"), false, t -> t.zero(2));
        assertSameFiles(
                dir.resolve("a").resolve("checkpoint"), dir.resolve("full").resolve("checkpoint"));
        run(2, 1, constant(4), dir.resolve("a"), true, t -> t);
        run(2, 1, constant(2), dir.resolve("b"), false, t -> t);
        run(2, 1, constant(4), dir.resolve("b"), true, t -> t.zero(1));
        assertClose(losses(dir.resolve("a")), losses(dir.resolve("full")), 2e-6);
        assertClose(losses(dir.resolve("b")), losses(dir.resolve("full")), 2e-6);
    }

    /** The same files, tensor names and shapes (the values differ: they are from another step). */
    static void assertSameFiles(Path a, Path b) throws Exception {
        for (String f : List.of(Checkpoint.MODEL, Checkpoint.OPTIMIZER)) {
            Map<String, Tensor> x = TensorIo.load(a.resolve(f)).tensors();
            Map<String, Tensor> y = TensorIo.load(b.resolve(f)).tensors();
            assertThat(x.keySet()).isEqualTo(y.keySet());
            x.forEach((k, t) ->
                    assertThat(t.shape()).as(k).containsExactly(y.get(k).shape()));
        }
    }

    @Test
    void co2RunsAndResumesExactlyInTheMiddleOfARound(@TempDir Path dir) throws Exception {
        Co2Config cfg = new Co2Config(3, 0.9, 0.3, 0.05, 1.5, 1);
        run(2, 2, constant(7), dir.resolve("full"), false, t -> t.co2(cfg));
        run(2, 2, constant(4), dir.resolve("part"), false, t -> t.co2(cfg));
        Path ckpt = dir.resolve("part").resolve("checkpoint");
        assertThat(ckpt.resolve(Co2Update.FILE)).exists();
        Map<String, Tensor> co2 = TensorIo.load(ckpt.resolve(Co2Update.FILE)).tensors();
        assertThat(co2.keySet())
                .anyMatch(k -> k.startsWith("outer_momentum."))
                .anyMatch(k -> k.startsWith("replica1."));
        run(2, 2, constant(7), dir.resolve("part"), true, t -> t.co2(cfg));
        List<Double> full = losses(dir.resolve("full"));
        List<Double> resumed = losses(dir.resolve("part"));
        assertThat(resumed).hasSize(7);
        for (int s = 0; s < 7; s++) {
            assertThat(resumed.get(s))
                    .as("step %d", s + 1)
                    .isCloseTo(full.get(s), org.assertj.core.data.Offset.offset(1e-9 * Math.abs(full.get(s))));
        }
    }

    @Test
    void settingsThatDoNotGoTogetherAreRefusedBeforeAnyStep(@TempDir Path dir) {
        Co2Config cfg = Co2Config.defaults();
        assertThatThrownBy(() -> run(
                        2,
                        1,
                        constant(1),
                        dir.resolve("x"),
                        false,
                        t -> t.co2(cfg).zero(1)))
                .hasStackTraceContaining(
                        "--zero shards the optimizer of synchronous data parallelism; CO2 keeps one optimizer per replica");
        assertThatThrownBy(() -> run(1, 2, constant(1), dir.resolve("x"), false, t -> t.co2(cfg)))
                .hasStackTraceContaining("--dp-algo co2 averages data-parallel replicas: it needs --dp of at least 2");
        assertThatThrownBy(() -> new Co2Config(0, 1, 0.5, 0, 0.5, 2))
                .hasMessage(
                        "CO2: --co2-tau must be >= 1 (got 0); --co2-penalty must be >= 1, 1 = none (got 0.5); --co2-staleness must be 0 or 1 (got 2)");
        assertThatThrownBy(() -> run(2, 1, constant(1), dir.resolve("x"), false, t -> t.zero(3)))
                .hasMessageContaining("--zero must be 1");
        assertThatThrownBy(() -> run(2, 1, constant(1), dir.resolve("x"), false, t -> t.expertParallel(2)))
                .hasStackTraceContaining("--ep 2: the model has no mixture-of-experts layers to split");
    }

    @Test
    void aCheckpointOfAnotherKindOfUpdateIsRefused(@TempDir Path dir) {
        Co2Config cfg = new Co2Config(2, 1, 0, 0, 1, 1);
        run(2, 1, constant(2), dir.resolve("co2"), false, t -> t.co2(cfg));
        assertThatThrownBy(() -> run(2, 1, constant(3), dir.resolve("co2"), true, t -> t))
                .hasStackTraceContaining(
                        "the checkpoint was written by CO2 training with its own outer state and per-replica optimizers; resume it with --dp-algo co2 --dp 2");
        assertThatThrownBy(() -> run(4, 1, constant(3), dir.resolve("co2"), true, t -> t.co2(cfg)))
                .hasStackTraceContaining(
                        "the checkpoint was written by CO2 training over 2 data-parallel replicas (one optimizer each); resume it with the same --dp, not 4");
        run(2, 1, constant(2), dir.resolve("sync"), false, t -> t);
        assertThatThrownBy(() -> run(2, 1, constant(3), dir.resolve("sync"), true, t -> t.co2(cfg)))
                .hasStackTraceContaining("the checkpoint was not written by CO2 training");
    }

    @Test
    void aNonFiniteStepStopsEveryRankTogetherBeforeAnyUpdate(@TempDir Path dir) {
        Map<String, UnaryOperator<DistributedTrainer>> updates = new java.util.LinkedHashMap<>();
        updates.put("synchronous", t -> t);
        updates.put("zero2", t -> t.zero(2));
        updates.put("co2", t -> t.co2(new Co2Config(2, 1, 0, 0, 1, 1)));
        updates.forEach((name, setup) -> {
            Path out = dir.resolve(name);
            GlobalBatches.Shared shared = new GlobalBatches.Shared(new DistributedTrainerTest.RandomBatches(4, 26), 2);
            String[] stopped = new String[2];
            // only the second rank's weights hold a NaN: the first rank's own gradient (its only one under CO2) is
            // finite
            assertThatThrownBy(() -> LocalWorld.run(2, T, pg -> {
                        try (TnlModel m = new TnlModel(DistributedTrainerTest.CONFIG, 11)) {
                            if (pg.rank() == 1) {
                                Tensor w = m.namedParameters()
                                        .values()
                                        .iterator()
                                        .next()
                                        .value();
                                w.narrow(0, 0, 1)
                                        .copyFrom(Tensor.full(
                                                DType.F32,
                                                Double.NaN,
                                                w.narrow(0, 0, 1).shape()));
                            }
                            DistributedTrainer t = new DistributedTrainer(
                                    pg,
                                    2,
                                    1,
                                    SpAlgorithm.LASP2,
                                    m,
                                    constant(3),
                                    shared.forRank(pg.rank()),
                                    null,
                                    out,
                                    new PrintStream(new ByteArrayOutputStream()),
                                    700);
                            return setup.apply(t).run(false);
                        } catch (IllegalStateException e) {
                            stopped[pg.rank()] = e.getMessage();
                            throw e;
                        }
                    }))
                    .as(name)
                    .hasStackTraceContaining("training diverged at step 1");
            for (String message : stopped) {
                assertThat(message)
                        .as(name)
                        .startsWith("training diverged at step 1: the loss is NaN and the gradient norm is NaN")
                        .contains("no checkpoint was saved");
            }
            assertThat(out.resolve("checkpoint")).as(name).doesNotExist();
        });
    }

    @Test
    void resumingWithOtherSettingsIsRefusedNamingThem(@TempDir Path dir) {
        run(2, 1, constant(2), dir, false, t -> t.zero(1));
        TrainConfig other = new TrainConfig(
                3, 4, 26, 2, 1e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
        assertThatThrownBy(() -> run(2, 1, other, dir, true, t -> t.zero(1)))
                .hasStackTraceContaining("with different settings: lr 0.001 (checkpoint: 0.003)");
        run(2, 1, other, dir, true, t -> t.zero(1).allowChangedSettings(true));
        assertThat(losses(dir)).hasSize(3);
    }

    static fulgur.models.minimax.MiniMaxModel minimax() {
        String json = fulgur.models.minimax.MiniMaxConfig.small(DistributedTrainerTest.VOCAB, 16, 2, 2)
                .toJson()
                .replaceAll("\"num_local_experts\" : [0-9]+", "\"num_local_experts\" : 4")
                .replaceAll("\"router_aux_loss_coef\" : [0-9.eE-]+", "\"router_aux_loss_coef\" : 0.1");
        return new fulgur.models.minimax.MiniMaxModel(fulgur.models.minimax.MiniMaxConfig.parse(json), 3);
    }

    @Test
    void splitExpertsTrainLikeOneRankAndCheckpointTheWholeModel(@TempDir Path dir) throws Exception {
        TrainConfig cfg = new TrainConfig(
                3, 4, 12, 1, 3e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
        Path single = dir.resolve("single");
        fulgur.train.Evaluator eval =
                fulgur.train.Trainer.lossOn(List.of(new DistributedTrainerTest.RandomBatches(2, 12).next()));
        fulgur.train.Trainer.Result one;
        try (fulgur.models.minimax.MiniMaxModel m = minimax()) {
            one = new fulgur.train.Trainer(
                            m,
                            cfg,
                            new DistributedTrainerTest.RandomBatches(4, 12),
                            eval,
                            single,
                            new PrintStream(new ByteArrayOutputStream()))
                    .listener(LOSSES)
                    .run(false);
        }
        Path split = dir.resolve("split");
        DistributedTrainer.Result many =
                run(DataParallelUpdatesTest::minimax, 4, 1, cfg, split, false, t -> t.expertParallel(2), eval);
        assertClose(losses(split), losses(single), 2e-6);
        // the ranks evaluate together (each holds half the experts)
        assertThat(many.lastEval().get("loss"))
                .isCloseTo(one.lastEval().get("loss"), org.assertj.core.data.Offset.offset(1e-5));
        // the checkpoint holds every expert, gathered from the ranks that hold them, as the single-process run writes
        // it
        assertSameFiles(split.resolve("checkpoint"), single.resolve("checkpoint"));
        Map<String, Tensor> a = TensorIo.load(split.resolve("checkpoint").resolve(Checkpoint.MODEL))
                .tensors();
        Map<String, Tensor> b = TensorIo.load(single.resolve("checkpoint").resolve(Checkpoint.MODEL))
                .tensors();
        for (String k : b.keySet()) {
            assertThat(fulgur.dist.TestArrays.maxRelErr(
                            a.get(k).toDoubleArray(), b.get(k).toDoubleArray()))
                    .as(k)
                    .isLessThan(1e-4);
        }
        // and another split resumes it
        TrainConfig longer = new TrainConfig(
                5, 4, 12, 1, 3e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
        run(DataParallelUpdatesTest::minimax, 4, 1, longer, split, true, t -> t.expertParallel(4));
        try (fulgur.models.minimax.MiniMaxModel m = minimax()) {
            new fulgur.train.Trainer(
                            m,
                            longer,
                            new DistributedTrainerTest.RandomBatches(4, 12),
                            null,
                            single,
                            new PrintStream(new ByteArrayOutputStream()))
                    .listener(LOSSES)
                    .run(true);
        }
        assertClose(losses(split), losses(single), 2e-5);
    }
}
