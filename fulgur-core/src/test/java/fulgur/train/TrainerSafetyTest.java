package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.data.TokenStream;
import fulgur.io.DirectoryLock;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Finite;
import fulgur.tensor.Tensor;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What the training loop refuses: non-finite steps and evaluations, checkpoints of them, changed settings on resume, a second writer. */
class TrainerSafetyTest {

    static final TnlConfig MODEL = TnlConfig.small(50, 16, 1, 2);

    static int[] corpus() {
        int[] c = new int[3000];
        for (int i = 0; i < c.length; i++) {
            c[i] = (i * 7 + (i / 13) * 3) % 50;
        }
        return c;
    }

    static TrainConfig config(long steps, double lr, double clip, long evalEvery, long checkpointEvery) {
        return new TrainConfig(
                steps,
                4,
                16,
                1,
                lr,
                0,
                LrSchedule.Kind.CONSTANT,
                0.1,
                0.1,
                0.9,
                0.95,
                1e-8,
                clip,
                evalEvery,
                checkpointEvery,
                11);
    }

    static Trainer trainer(TnlModel m, TrainConfig cfg, Evaluator eval, Path dir, PrintStream out) {
        return new Trainer(m, cfg, DataSources.packed(TokenStream.of(corpus()), 4, 16, 3), eval, dir, out);
    }

    static PrintStream quiet() {
        return new PrintStream(new ByteArrayOutputStream());
    }

    @Test
    void aNonFiniteWeightStopsTheFirstStepNamingItAndNothingIsSaved(@TempDir Path tmp) {
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            Map.Entry<String, Parameter> first =
                    m.namedParameters().entrySet().iterator().next();
            Tensor w = first.getValue().value();
            w.narrow(0, 1, 1)
                    .copyFrom(
                            Tensor.full(DType.F32, Double.NaN, w.narrow(0, 1, 1).shape()));
            assertThatThrownBy(() -> trainer(m, config(3, 3e-3, 1.0, 0, 1), null, tmp, quiet())
                            .run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("training diverged at step 1: the loss is NaN and the gradient norm is NaN")
                    .hasMessageContaining("first non-finite weight: '" + first.getKey() + "' has NaN")
                    .hasMessageContaining("no checkpoint was saved");
        }
        assertThat(tmp.resolve("checkpoint")).doesNotExist();
    }

    @Test
    void aNonFiniteEvaluationStopsTheRunAndKeepsTheLastCheckpoint(@TempDir Path tmp) throws Exception {
        int[] calls = {0};
        Evaluator flaky = model -> Map.of("loss", ++calls[0] < 2 ? 1.0 : Double.NaN);
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            assertThatThrownBy(() -> trainer(m, config(6, 3e-3, 1.0, 2, 3), flaky, tmp, quiet())
                            .run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("training diverged at step 4: the evaluation gave val_loss = NaN")
                    .hasMessageContaining("the checkpoint of step 3 is kept");
        }
        assertThat(Checkpoint.readState(tmp.resolve("checkpoint")).get("step")).isEqualTo(3);
    }

    @Test
    void aRunBlownUpByItsLearningRateStopsAndNeverSavesANonFiniteCheckpoint(@TempDir Path tmp) throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            assertThatThrownBy(() -> trainer(
                                    m,
                                    config(40, 1e4, 0, 0, 1),
                                    null,
                                    tmp,
                                    new PrintStream(log, true, StandardCharsets.UTF_8))
                            .run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("training diverged at step")
                    .hasMessageContaining("try a lower learning rate");
        }
        if (Files.exists(tmp.resolve("checkpoint"))) {
            try (TnlModel back = new TnlModel(MODEL, 1)) {
                Checkpoint.load(tmp.resolve("checkpoint"), back, null); // would fail on a non-finite tensor
                assertThat(Finite.describeFirst(back.stateDict())).isNull();
            }
        }
    }

    @Test
    void aCheckpointOfNonFiniteWeightsIsRefusedAndThePreviousOneKept(@TempDir Path tmp) throws Exception {
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            Checkpoint.save(tmp.resolve("checkpoint"), m, null, Map.of("step", 1));
            Tensor w = m.namedParameters().values().iterator().next().value();
            w.narrow(0, 0, 1)
                    .copyFrom(Tensor.full(
                            DType.F32,
                            Double.POSITIVE_INFINITY,
                            w.narrow(0, 0, 1).shape()));
            assertThatThrownBy(() -> Checkpoint.save(tmp.resolve("checkpoint"), m, null, Map.of("step", 2)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("not saving the checkpoint of step 2")
                    .hasMessageContaining(": weights '")
                    .hasMessageContaining("has Infinity at element 0")
                    .hasMessageContaining("the previous checkpoint is kept");
        }
        assertThat(Checkpoint.readState(tmp.resolve("checkpoint")).get("step")).isEqualTo(1);
        try (var files = Files.list(tmp)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("checkpoint");
        }
    }

    @Test
    void resumingWithChangedSettingsIsRefusedNamingThemUnlessAllowed(@TempDir Path tmp) throws Exception {
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            trainer(m, config(4, 3e-3, 1.0, 0, 0), null, tmp, quiet())
                    .stopAfter(2)
                    .run(false);
        }
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            TrainConfig other = new TrainConfig(
                    4, 4, 16, 1, 1e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 0.5, 0, 0, 11);
            assertThatThrownBy(() -> trainer(m, other, null, tmp, quiet()).run(true))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("cannot resume")
                    .hasMessageContaining(
                            "with different settings: lr 0.001 (checkpoint: 0.003), gradClip 0.5 (checkpoint: 1.0)");
            assertThatThrownBy(() -> trainer(m, config(1, 3e-3, 1.0, 0, 0), null, tmp, quiet())
                            .run(true))
                    .hasMessageContaining("for 1 steps: the checkpoint is at step 2 already");
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            Trainer.Result r = trainer(m, other, null, tmp, new PrintStream(log, true, StandardCharsets.UTF_8))
                    .allowChangedSettings(true)
                    .run(true);
            assertThat(r.stepsDone()).isEqualTo(4);
            assertThat(log.toString(StandardCharsets.UTF_8))
                    .contains("note: resuming with changed settings: lr 0.001 (checkpoint: 0.003)");
        }
        try (TnlModel m = new TnlModel(MODEL, 5)) {
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            TrainConfig longer = new TrainConfig(
                    6, 4, 16, 1, 1e-3, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 0.5, 5, 0, 11);
            trainer(m, longer, null, tmp, new PrintStream(log, true, StandardCharsets.UTF_8))
                    .run(true); // more steps, other intervals: allowed
            assertThat(log.toString(StandardCharsets.UTF_8)).contains("note: the run now ends at step 6 instead of 4");
        }
    }

    @Test
    void aSecondRunOnTheSameDirectoryIsRefusedBeforeItWrites(@TempDir Path tmp) throws Exception {
        try (DirectoryLock held = DirectoryLock.acquire(tmp, "train", n -> {});
                TnlModel m = new TnlModel(MODEL, 5)) {
            assertThatThrownBy(() -> trainer(m, config(2, 3e-3, 1.0, 0, 0), null, tmp, quiet())
                            .run(false))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("is in use by another run in this process");
            try (var files = Files.list(tmp)) {
                assertThat(files.map(p -> p.getFileName().toString())).containsExactly(DirectoryLock.FILE);
            }
            assertThat(trainer(m, config(2, 3e-3, 1.0, 0, 0), null, tmp, quiet())
                            .outputLock(held)
                            .run(false)
                            .stepsDone())
                    .isEqualTo(2);
        }
    }
}
