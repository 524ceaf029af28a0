package fulgur.avvp;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.DirectoryLock;
import fulgur.io.Json;
import fulgur.models.leap.LeapConfig;
import fulgur.models.leap.LeapModel;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import fulgur.testing.ScopedTest;
import fulgur.train.Checkpoint;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AvvpTrainerTest extends ScopedTest {

    private static TrainConfig config(long steps, int batch, double lr, long evalEvery, long seed) {
        return new TrainConfig(
                steps,
                batch,
                10,
                1,
                lr,
                steps / 10,
                LrSchedule.Kind.COSINE,
                0.1,
                0.01,
                0.9,
                0.999,
                1e-8,
                1.0,
                evalEvery,
                0,
                seed);
    }

    /** Collects what the trainer reports. */
    private static final class Log implements AvvpTrainer.Listener {
        final List<Map<String, Double>> losses = new ArrayList<>();
        final List<AvvpMetrics.Scores> evals = new ArrayList<>();
        long startedAt = -1;

        @Override
        public void started(long step) {
            startedAt = step;
        }

        @Override
        public void step(long step, double lr, Map<String, Double> l, double gradNorm, double seconds) {
            losses.add(l);
        }

        @Override
        public void evaluated(long step, AvvpMetrics.Scores scores) {
            evals.add(scores);
        }
    }

    /**
     * Six classes, LLP's 10 segments, small features: 300 steps take LEAP well past predicting every video's true
     * labels on every segment, at the segment and at the event level.
     */
    @Test
    void learnsToParseTheSyntheticTaskBeyondTheVideoLabels(@TempDir Path out) {
        SyntheticAvvp task = new SyntheticAvvp(
                new SyntheticAvvp.Settings(7, 6, 10, 16, 32, 16, 400, 100, 200, 0.8, 0.5, 1.0, 0.15, 0.05));
        LeapConfig c = LeapConfig.small(32, 2, 8)
                .withTask(task.classes().names(), task.settings().dims());
        AvvpDataset test = task.split(SyntheticAvvp.Split.TEST);
        Log log = new Log();
        try (LeapModel m = new LeapModel(c, 1)) {
            AvvpTrainer.Result r = new AvvpTrainer(
                            m,
                            config(300, 16, 3e-3, 150, 1),
                            task.split(SyntheticAvvp.Split.TRAIN),
                            task.split(SyntheticAvvp.Split.VAL),
                            task.spec(),
                            out,
                            log)
                    .run(false);
            assertThat(r.stepsDone()).isEqualTo(300);
            assertThat(log.evals).hasSize(2);
            AvvpMetrics.Scores model = AvvpEvaluation.evaluate(m, test, 64);
            AvvpMetrics.Scores labels = AvvpEvaluation.videoLabelsEverywhere(test);
            assertThat(model.segment().typeAv())
                    .as("segment-level Type@AV, model %s vs video labels %s", model.segment(), labels.segment())
                    .isGreaterThan(labels.segment().typeAv() + 0.05);
            assertThat(model.event().typeAv())
                    .as("event-level Type@AV, model %s vs video labels %s", model.event(), labels.event())
                    .isGreaterThan(labels.event().typeAv());
            double first = log.losses.subList(0, 20).stream()
                    .mapToDouble(l -> l.get("loss"))
                    .average()
                    .orElseThrow();
            double last = log.losses.subList(280, 300).stream()
                    .mapToDouble(l -> l.get("loss"))
                    .average()
                    .orElseThrow();
            assertThat(last).isLessThan(0.6 * first);
        }
        assertThat(out.resolve("checkpoint").resolve("model.safetensors")).exists();
        assertThat(out.resolve("config.json")).exists();
    }

    @Test
    void aResumedRunEndsWithTheWeightsOfTheUninterruptedOne(@TempDir Path dir) throws Exception {
        SyntheticAvvp task =
                new SyntheticAvvp(new SyntheticAvvp.Settings(3, 4, 10, 5, 6, 4, 12, 0, 4, 0.5, 0.5, 1.0, 0.15, 0.05));
        LeapConfig c = LeapConfig.parse(
                        "{\"hidden_size\": 8, \"encoder_heads\": 2, \"decoder_heads\": 2, \"label_dim\": 3}")
                .withTask(task.classes().names(), task.settings().dims());
        TrainConfig cfg = config(6, 5, 3e-3, 0, 9);
        AvvpDataset train = task.split(SyntheticAvvp.Split.TRAIN);
        Map<String, Tensor> straight;
        try (LeapModel m = new LeapModel(c, 2)) {
            new AvvpTrainer(m, cfg, train, null, task.spec(), dir.resolve("a"), new Log()).run(false);
            straight = m.stateDict();
            assertThat(m.randomCounter()).as("dropout drew masks").isPositive();
            float[] w = straight.get("decoder_a.layers.1.ffn.linear2.weight").toFloatArray();
            try (LeapModel n = new LeapModel(c, 2)) {
                new AvvpTrainer(n, cfg, train, null, task.spec(), dir.resolve("b"), new Log())
                        .stopAfter(3)
                        .run(false);
            }
            Log resumed = new Log();
            try (LeapModel n = new LeapModel(c, 2)) {
                new AvvpTrainer(n, cfg, train, null, task.spec(), dir.resolve("b"), resumed).run(true);
                assertThat(resumed.startedAt).isEqualTo(3);
                assertThat(resumed.losses).hasSize(3);
                for (var e : n.stateDict().entrySet()) {
                    assertThat(e.getValue().toFloatArray())
                            .as(e.getKey())
                            .containsExactly(straight.get(e.getKey()).toFloatArray());
                }
                assertThat(n.stateDict()
                                .get("decoder_a.layers.1.ffn.linear2.weight")
                                .toFloatArray())
                        .containsExactly(w);
            }
        }
        String state = Files.readString(dir.resolve("b").resolve("checkpoint").resolve("trainer_state.json"));
        assertThat(SyntheticAvvp.fromSpec(
                        castMap(Json.mapper().readValue(state, Map.class).get("data_spec"))))
                .isEqualTo(task.settings());
        try (LeapModel n = new LeapModel(c, 2)) {
            AvvpTrainer other =
                    new AvvpTrainer(n, config(6, 5, 3e-3, 0, 10), train, null, null, dir.resolve("b"), new Log());
            assertThatThrownBy(() -> other.run(true))
                    .hasMessageContaining("with different settings: seed 10 (checkpoint: 9)");
            // allowed to change settings, a run still cannot take another run's place in the data
            assertThatThrownBy(() -> other.allowChangedSettings(true).run(true))
                    .hasMessageContaining("does not belong to an AVVP run with seed 10");
        }
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> castMap(Object o) {
        return (Map<String, Object>) o;
    }

    /**
     * As the language models' trainer does: a second run on a locked output directory is refused before it writes; a
     * non-finite step stops before the update, naming the weight; a checkpoint of non-finite weights is refused and the
     * previous one kept.
     */
    @Test
    void locksItsOutputStopsOnNonFiniteStepsAndNeverSavesNonFiniteWeights(@TempDir Path dir) throws Exception {
        SyntheticAvvp task =
                new SyntheticAvvp(new SyntheticAvvp.Settings(3, 4, 10, 5, 6, 4, 12, 0, 4, 0.5, 0.5, 1.0, 0.15, 0.05));
        LeapConfig c = LeapConfig.parse(
                        "{\"hidden_size\": 8, \"encoder_heads\": 2, \"decoder_heads\": 2, \"label_dim\": 3}")
                .withTask(task.classes().names(), task.settings().dims());
        TrainConfig cfg = new TrainConfig(
                4, 5, 10, 1, 3e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.01, 0.9, 0.999, 1e-8, 1.0, 0, 1, 9);
        AvvpDataset train = task.split(SyntheticAvvp.Split.TRAIN);
        String poisoned = "decoder_a.layers.1.ffn.linear2.weight";

        Path held = dir.resolve("held");
        try (DirectoryLock lock = DirectoryLock.acquire(held, "train", n -> {});
                LeapModel m = new LeapModel(c, 2)) {
            assertThatThrownBy(() -> new AvvpTrainer(m, cfg, train, null, task.spec(), held, new Log()).run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("is in use by another run in this process");
            try (var files = Files.list(held)) {
                assertThat(files.map(p -> p.getFileName().toString())).containsExactly(DirectoryLock.FILE);
            }
            assertThat(new AvvpTrainer(m, cfg, train, null, task.spec(), held, new Log())
                            .outputLock(lock)
                            .run(false)
                            .stepsDone())
                    .isEqualTo(4);
        }

        Path nan = dir.resolve("nan");
        try (LeapModel m = new LeapModel(c, 2)) {
            Tensor w = m.stateDict().get(poisoned);
            w.copyFrom(Tensor.full(DType.F32, Double.NaN, w.shape()));
            assertThatThrownBy(() -> new AvvpTrainer(m, cfg, train, null, task.spec(), nan, new Log()).run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("training diverged at step 1: the loss is NaN")
                    .hasMessageContaining("first non-finite weight: '" + poisoned + "'")
                    .hasMessageContaining("no checkpoint was saved");
        }
        assertThat(nan.resolve("checkpoint")).doesNotExist();

        Path late = dir.resolve("late");
        try (LeapModel m = new LeapModel(c, 2)) {
            AvvpTrainer.Listener poisonAtStep2 = new AvvpTrainer.Listener() {
                @Override
                public void step(long step, double lr, Map<String, Double> l, double gradNorm, double seconds) {
                    if (step == 2) { // after the update, before the checkpoint of step 2
                        Tensor w = m.stateDict().get(poisoned);
                        w.narrow(0, 0, 1)
                                .copyFrom(Tensor.full(
                                        DType.F32,
                                        Double.POSITIVE_INFINITY,
                                        w.narrow(0, 0, 1).shape()));
                    }
                }

                @Override
                public void evaluated(long step, AvvpMetrics.Scores scores) {}
            };
            assertThatThrownBy(() -> new AvvpTrainer(m, cfg, train, null, task.spec(), late, poisonAtStep2).run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("not saving the checkpoint of step 2")
                    .hasMessageContaining("'" + poisoned + "' has Infinity at element 0")
                    .hasMessageContaining("the previous checkpoint is kept");
        }
        assertThat(Checkpoint.readState(late.resolve("checkpoint")).get("step")).isEqualTo(1);
    }
}
