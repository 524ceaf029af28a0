package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.data.Mqar;
import fulgur.data.TokenStream;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerResumeTest {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

    static TrainConfig config(long steps) {
        return new TrainConfig(
                steps, 4, 24, 2, 3e-3, 2, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 3, 0, 11);
    }

    static final RecordedRuns RUNS = new RecordedRuns();

    static List<Double> trainLosses(Path dir) {
        return RUNS.losses(dir);
    }

    @Test
    void resumedRunReproducesTheUninterruptedLossCurveExactly(@TempDir Path tmp) throws Exception {
        int[] corpus = new int[5000];
        for (int i = 0; i < corpus.length; i++) {
            corpus[i] = (i * 7 + (i / 13) * 3) % 50;
        }
        TnlConfig mc = TnlConfig.small(50, 16, 2, 2).withLrpe(List.of(1, 0));
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        try (TnlModel m = new TnlModel(mc, 5)) {
            new Trainer(m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, a, QUIET)
                    .listener(RUNS)
                    .run(false);
        }
        try (TnlModel m = new TnlModel(mc, 5)) {
            Trainer.Result r = new Trainer(
                            m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, b, QUIET)
                    .listener(RUNS)
                    .stopAfter(3)
                    .run(false);
            assertThat(r.stepsDone()).isEqualTo(3);
        }
        // A fresh process would build a fresh model (different init seed on purpose): the checkpoint must win.
        try (TnlModel m = new TnlModel(mc, 99)) {
            new Trainer(m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, b, QUIET)
                    .listener(RUNS)
                    .run(true);
        }
        List<Double> full = trainLosses(a);
        List<Double> resumed = trainLosses(b);
        for (TrainingListener.Step e : RUNS.steps(a)) {
            assertThat(e.stepSeconds()).isPositive();
            assertThat(e.peakMemoryGib()).isPositive();
        }
        assertThat(full).hasSize(6);
        assertThat(resumed).containsExactlyElementsOf(full);
        assertThat(RUNS.finished(b)).isTrue();
        assertThat(Files.exists(b.resolve("checkpoint").resolve(Checkpoint.MODEL)))
                .isTrue();
    }

    @Test
    void bf16MixedPrecisionTracksF32AndResumesExactlyFromF32Masters(@TempDir Path tmp) throws Exception {
        int[] corpus = new int[5000];
        for (int i = 0; i < corpus.length; i++) {
            corpus[i] = (i * 7 + (i / 13) * 3) % 50;
        }
        TnlConfig mc = TnlConfig.small(50, 16, 2, 2);
        Path f32 = tmp.resolve("f32");
        Path a = tmp.resolve("a");
        Path b = tmp.resolve("b");
        try (TnlModel m = new TnlModel(mc, 5)) {
            new Trainer(m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, f32, QUIET)
                    .listener(RUNS)
                    .run(false);
        }
        try (TnlModel m = new TnlModel(mc, 5)) {
            new Trainer(m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, a, QUIET)
                    .listener(RUNS)
                    .precision(fulgur.tensor.DType.BF16)
                    .run(false);
            assertThat(m.stateDict().values())
                    .allSatisfy(t -> assertThat(t.dtype()).isEqualTo(fulgur.tensor.DType.BF16));
        }
        try (TnlModel m = new TnlModel(mc, 5)) {
            new Trainer(m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, b, QUIET)
                    .listener(RUNS)
                    .precision(fulgur.tensor.DType.BF16)
                    .stopAfter(3)
                    .run(false);
        }
        try (var saved = fulgur.io.safetensors.Safetensors.open(b.resolve("checkpoint"))) {
            assertThat(saved.entries())
                    .allSatisfy(e -> assertThat(e.dtype()).isEqualTo("F32")); // the masters, not their bf16 copies
        }
        try (TnlModel m = new TnlModel(mc, 99)) {
            new Trainer(m, config(6), DataSources.packed(TokenStream.of(corpus), 4, 24, 3), null, b, QUIET)
                    .listener(RUNS)
                    .precision(fulgur.tensor.DType.BF16)
                    .run(true);
        }
        List<Double> reference = trainLosses(f32);
        List<Double> mixed = trainLosses(a);
        assertThat(trainLosses(b)).containsExactlyElementsOf(mixed);
        for (int i = 0; i < mixed.size(); i++) {
            assertThat(mixed.get(i))
                    .as("step " + (i + 1))
                    .isCloseTo(reference.get(i), org.assertj.core.data.Offset.offset(2e-2 * reference.get(i)));
        }
    }

    @Test
    void mqarTrainingReportsAccuracyAndLossFalls(@TempDir Path tmp) throws Exception {
        Mqar task = new Mqar(Mqar.Config.of(32, 24, 3));
        TnlConfig mc = TnlConfig.small(32, 32, 2, 2);
        try (TnlModel m = new TnlModel(mc, 1)) {
            var held = task.batch(777, 0, 32);
            Trainer.Result r = new Trainer(
                            m,
                            new TrainConfig(
                                    40,
                                    8,
                                    24,
                                    1,
                                    1e-2,
                                    4,
                                    LrSchedule.Kind.COSINE,
                                    0.1,
                                    0.0,
                                    0.9,
                                    0.95,
                                    1e-8,
                                    1.0,
                                    20,
                                    0,
                                    3),
                            DataSources.mqar(task, 1, 8),
                            model -> Map.of(
                                    "loss",
                                    Trainer.lossOn(List.of(held))
                                            .evaluate(model)
                                            .get("loss")),
                            tmp,
                            QUIET)
                    .listener(RUNS)
                    .run(false);
            List<Double> losses = trainLosses(tmp);
            double first = losses.subList(0, 5).stream()
                    .mapToDouble(Double::doubleValue)
                    .average()
                    .orElseThrow();
            double last = losses.subList(35, 40).stream()
                    .mapToDouble(Double::doubleValue)
                    .average()
                    .orElseThrow();
            assertThat(last).isLessThan(first - 0.3);
            assertThat(r.lastEval()).containsKey("loss");
        }
    }

    @Test
    void corruptOrMissingCheckpointsGiveClearErrors(@TempDir Path tmp) throws Exception {
        TnlConfig mc = TnlConfig.small(20, 8, 1, 2);
        try (TnlModel m = new TnlModel(mc, 1)) {
            assertThatThrownBy(() -> new Trainer(
                                    m,
                                    config(2),
                                    DataSources.packed(TokenStream.of(new int[500]), 4, 24, 3),
                                    null,
                                    tmp,
                                    QUIET)
                            .listener(RUNS)
                            .run(true))
                    .hasMessageContaining("no checkpoint at");
            new Trainer(m, config(2), DataSources.packed(TokenStream.of(new int[500]), 4, 24, 3), null, tmp, QUIET)
                    .listener(RUNS)
                    .run(false);
        }
        try (TnlModel other = new TnlModel(TnlConfig.small(20, 16, 1, 2), 1)) {
            assertThatThrownBy(() -> Checkpoint.load(tmp.resolve("checkpoint"), other, null))
                    .hasMessageContaining("mis-shaped");
        }
        Files.write(tmp.resolve("checkpoint").resolve(Checkpoint.MODEL), new byte[] {1, 2, 3});
        try (TnlModel m = new TnlModel(mc, 1)) {
            assertThatThrownBy(() -> Checkpoint.load(tmp.resolve("checkpoint"), m, null))
                    .hasMessageContaining(Checkpoint.MODEL);
        }
    }

    @Test
    void aCapturedStepNeedsACudaDevice(@TempDir Path tmp) {
        try (TnlModel m = new TnlModel(TnlConfig.small(50, 16, 2, 2), 5)) {
            Trainer t = new Trainer(
                            m, config(2), DataSources.packed(TokenStream.of(new int[500]), 4, 24, 3), null, tmp, QUIET)
                    .listener(RUNS)
                    .cudaGraph(true);
            assertThatThrownBy(() -> t.run(false))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("needs the model on a cuda device; it is on cpu");
        }
    }
}
