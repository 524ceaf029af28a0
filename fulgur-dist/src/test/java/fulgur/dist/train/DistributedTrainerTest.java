package fulgur.dist.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.data.Batch;
import fulgur.dist.local.LocalWorld;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.train.DataSource;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import fulgur.train.TrainingListener;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A few steps of `train --dp 2 --sp 2` on the local backend give the single-process trainer's losses. */
class DistributedTrainerTest {
    static final int VOCAB = 40;
    static final TnlConfig CONFIG = TnlConfig.small(VOCAB, 16, 2, 2).withLrpe(List.of(1, 0));

    /** Random batches, reproducible from the seed and the position. */
    static final class RandomBatches implements DataSource {
        private final int batch, seqLen;
        private long position;

        RandomBatches(int batch, int seqLen) {
            this.batch = batch;
            this.seqLen = seqLen;
        }

        @Override
        public Batch next() {
            Random r = new Random(1000 + position++);
            int[] in = new int[batch * seqLen];
            int[] tg = new int[batch * seqLen];
            for (int i = 0; i < in.length; i++) {
                in[i] = r.nextInt(VOCAB);
                tg[i] = r.nextInt(8) == 0 ? Batch.IGNORE_INDEX : (in[i] * 7 + 3) % VOCAB;
            }
            return new Batch(batch, seqLen, in, tg);
        }

        @Override
        public Map<String, Object> state() {
            return Map.of("position", position);
        }

        @Override
        public void restore(Map<String, Object> state) {
            position = ((Number) state.get("position")).longValue();
        }
    }

    static TrainConfig config(int steps) {
        return new TrainConfig(
                steps, 4, 26, 2, 3e-3, 1, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
    }

    /** Each output folder's train losses, a resumed run replacing the steps after its checkpoint's; runs that ended. */
    static final class Losses implements TrainingListener {
        final Map<Path, List<Double>> byDir = new java.util.concurrent.ConcurrentHashMap<>();
        final java.util.Set<Path> finished = java.util.concurrent.ConcurrentHashMap.newKeySet();
        private volatile Path current;

        @Override
        public void runStarted(Start start) {
            current = start.outDir();
            List<Double> l = byDir.computeIfAbsent(current, k -> new ArrayList<>());
            while (l.size() > (start.resumed() ? start.step() : 0)) {
                l.removeLast();
            }
        }

        @Override
        public void stepDone(Step step) {
            byDir.get(current).add(step.loss());
        }

        @Override
        public void runFinished(long steps) {
            finished.add(current);
        }
    }

    static final Losses LOSSES = new Losses();

    static List<Double> losses(Path dir) {
        return LOSSES.byDir.getOrDefault(dir, List.of());
    }

    @Test
    void dpTimesSpRunReproducesTheSingleProcessRun(@TempDir Path dir) throws Exception {
        int steps = 3;
        Path single = dir.resolve("single");
        try (TnlModel m = new TnlModel(CONFIG, 11)) {
            new Trainer(
                            m,
                            config(steps),
                            new RandomBatches(4, 26),
                            null,
                            single,
                            new PrintStream(new ByteArrayOutputStream()))
                    .listener(LOSSES)
                    .run(false);
        }
        for (SpAlgorithm a : SpAlgorithm.values()) {
            Path dist = dir.resolve("dist-" + a.label());
            GlobalBatches.Shared shared = new GlobalBatches.Shared(new RandomBatches(4, 26), 4);
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            PrintStream out = new PrintStream(log, true);
            LocalWorld.run(4, Duration.ofSeconds(60), pg -> {
                try (TnlModel m = new TnlModel(CONFIG, 11)) {
                    return new DistributedTrainer(
                                    pg,
                                    2,
                                    2,
                                    a,
                                    m,
                                    config(steps),
                                    shared.forRank(pg.rank()),
                                    null,
                                    dist,
                                    pg.rank() == 0 ? out : new PrintStream(new ByteArrayOutputStream()),
                                    500)
                            .listener(TrainingListener.all(List.of(TrainingListener.printing(out), LOSSES)))
                            .run(false);
                }
            });
            assertThat(log.toString())
                    .contains("4 ranks (local backend) = dp 2 × sp 2, sequence parallelism " + a.label()
                            + "; 13 tokens per rank");
            List<Double> ref = losses(single);
            List<Double> got = losses(dist);
            assertThat(got).hasSize(steps);
            for (int s = 0; s < steps; s++) {
                assertThat(Math.abs(got.get(s) - ref.get(s)) / ref.get(s))
                        .as("%s step %d: %s vs %s", a, s + 1, got.get(s), ref.get(s))
                        .isLessThan(2e-5);
            }
            assertThat(dist.resolve("checkpoint")).exists();
            assertThat(LOSSES.finished).contains(dist);
        }
    }

    /** Each rank's 13 tokens walked in chunks of 4 (rounds of 8 over the sequence-parallel pair): the same losses again. */
    @Test
    void chunkedDpTimesSpRunReproducesTheSingleProcessRun(@TempDir Path dir) throws Exception {
        int steps = 3;
        Path single = dir.resolve("single");
        try (TnlModel m = new TnlModel(CONFIG, 11)) {
            new Trainer(
                            m,
                            config(steps),
                            new RandomBatches(4, 26),
                            null,
                            single,
                            new PrintStream(new ByteArrayOutputStream()))
                    .listener(LOSSES)
                    .run(false);
        }
        Path dist = dir.resolve("chunked");
        GlobalBatches.Shared shared = new GlobalBatches.Shared(new RandomBatches(4, 26), 4);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(log, true);
        LocalWorld.run(4, Duration.ofSeconds(60), pg -> {
            try (TnlModel m = new TnlModel(CONFIG, 11)) {
                return new DistributedTrainer(
                                pg,
                                2,
                                2,
                                SpAlgorithm.LASP2,
                                m,
                                config(steps),
                                shared.forRank(pg.rank()),
                                null,
                                dist,
                                pg.rank() == 0 ? out : new PrintStream(new ByteArrayOutputStream()),
                                500)
                        .sequenceChunk(4)
                        .listener(TrainingListener.all(List.of(TrainingListener.printing(out), LOSSES)))
                        .run(false);
            }
        });
        assertThat(log.toString())
                .contains("each rank walks its 13 tokens in chunks of 4 (4 rounds of 8 tokens over the group)");
        List<Double> ref = losses(single);
        List<Double> got = losses(dist);
        assertThat(got).hasSize(steps);
        for (int s = 0; s < steps; s++) {
            assertThat(Math.abs(got.get(s) - ref.get(s)) / ref.get(s))
                    .as("step %d: %s vs %s", s + 1, got.get(s), ref.get(s))
                    .isLessThan(2e-5);
        }
    }

    @Test
    void resumingADistributedRunContinuesExactly(@TempDir Path dir) throws Exception {
        GlobalBatches.Shared shared = new GlobalBatches.Shared(new RandomBatches(4, 26), 2);
        LocalWorld.run(2, Duration.ofSeconds(60), pg -> {
            try (TnlModel m = new TnlModel(CONFIG, 11)) {
                return new DistributedTrainer(
                                pg,
                                1,
                                2,
                                SpAlgorithm.LASP2,
                                m,
                                config(4),
                                shared.forRank(pg.rank()),
                                null,
                                dir.resolve("full"),
                                new PrintStream(new ByteArrayOutputStream()),
                                500)
                        .listener(LOSSES)
                        .run(false);
            }
        });
        Path part = dir.resolve("part");
        GlobalBatches.Shared first = new GlobalBatches.Shared(new RandomBatches(4, 26), 2);
        LocalWorld.run(2, Duration.ofSeconds(60), pg -> {
            try (TnlModel m = new TnlModel(CONFIG, 11)) {
                return new DistributedTrainer(
                                pg,
                                1,
                                2,
                                SpAlgorithm.LASP2,
                                m,
                                config(2),
                                first.forRank(pg.rank()),
                                null,
                                part,
                                new PrintStream(new ByteArrayOutputStream()),
                                500)
                        .listener(LOSSES)
                        .run(false);
            }
        });
        GlobalBatches.Shared second = new GlobalBatches.Shared(new RandomBatches(4, 26), 2);
        LocalWorld.run(2, Duration.ofSeconds(60), pg -> {
            try (TnlModel m = new TnlModel(CONFIG, 11)) {
                return new DistributedTrainer(
                                pg,
                                1,
                                2,
                                SpAlgorithm.LASP2,
                                m,
                                config(4),
                                second.forRank(pg.rank()),
                                null,
                                part,
                                new PrintStream(new ByteArrayOutputStream()),
                                500)
                        .listener(LOSSES)
                        .run(true);
            }
        });
        List<Double> full = losses(dir.resolve("full"));
        List<Double> resumed = losses(part);
        assertThat(resumed).hasSize(4);
        for (int s = 0; s < 4; s++) {
            assertThat(resumed.get(s))
                    .isCloseTo(full.get(s), org.assertj.core.data.Offset.offset(1e-9 * Math.abs(full.get(s)) + 1e-12));
        }
    }

    @Test
    void settingsThatDoNotSplitAreRejected(@TempDir Path dir) {
        assertThatThrownBy(() -> LocalWorld.run(3, Duration.ofSeconds(20), pg -> {
                    try (TnlModel m = new TnlModel(CONFIG, 11)) {
                        return new DistributedTrainer(
                                pg, 3, 1, SpAlgorithm.LASP2, m, config(1), null, null, dir, System.out, 500);
                    }
                }))
                .hasStackTraceContaining("a batch of 4 sequences does not split over --dp 3 replicas");
        assertThatThrownBy(() -> LocalWorld.run(4, Duration.ofSeconds(20), pg -> {
                    try (TnlModel m = new TnlModel(CONFIG, 11)) {
                        return new DistributedTrainer(
                                pg, 1, 4, SpAlgorithm.LASP2, m, config(1), null, null, dir, System.out, 500);
                    }
                }))
                .hasStackTraceContaining("a sequence of 26 tokens does not split evenly over 4 ranks");
        assertThatThrownBy(() -> LocalWorld.run(3, Duration.ofSeconds(20), pg -> {
                    try (TnlModel m = new TnlModel(CONFIG, 11)) {
                        return new DistributedTrainer(
                                pg, 2, 2, SpAlgorithm.LASP2, m, config(1), null, null, dir, System.out, 500);
                    }
                }))
                .hasStackTraceContaining("dp 2 × sp 2 = 4 ranks, but the world has 3");
    }
}
