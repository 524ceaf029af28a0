package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.data.Mqar;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.tensor.DType;
import fulgur.train.DataSources;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import fulgur.train.TrainingListener;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every registered architecture trained on MQAR with the step captured as a CUDA graph, against eager training of the
 * same model: the losses agree. In f32 (the composed forms where the family kernels take bf16 only: MiniMax's MoE runs
 * every expert densely while captured, so no host read sizes its groups) and in bf16 mixed precision (every family
 * kernel captured, MiniMax's MoE with its routing and grouped GEMMs on the device).
 */
@Tag("gpu")
class EveryArchitectureGraphGpuTest {
    static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    static Stream<String> names() {
        return Architectures.all().stream().map(Architecture::name);
    }

    /** Each run's train losses, by output folder. */
    static final java.util.Map<Path, List<Double>> LOSSES = new java.util.concurrent.ConcurrentHashMap<>();

    static final TrainingListener RECORD = new TrainingListener() {
        private Path dir;

        @Override
        public void runStarted(Start start) {
            dir = start.outDir();
            LOSSES.put(dir, new java.util.concurrent.CopyOnWriteArrayList<>());
        }

        @Override
        public void stepDone(Step step) {
            LOSSES.get(dir).add(step.loss());
        }
    };

    static List<Double> losses(Path dir) {
        return LOSSES.get(dir);
    }

    static Trainer.Result train(Architecture a, boolean graph, Path out) {
        return train(a, graph, null, 32, out);
    }

    /** Six steps of MQAR; {@code precision} null for f32, else the mixed-precision compute dtype. */
    static Trainer.Result train(Architecture a, boolean graph, DType precision, int dim, Path out) {
        Mqar task = new Mqar(Mqar.Config.of(32, 32, 4));
        TrainConfig cfg =
                new TrainConfig(6, 8, 32, 1, 3e-3, 1, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 3);
        try (LanguageModel m = a.build(a.smallConfig(32, dim, 2, 2), 3)) {
            m.module().to(GPU);
            Trainer t = new Trainer(m, cfg, DataSources.mqar(task, 3, 8), null, out, QUIET)
                    .listener(RECORD)
                    .cudaGraph(graph);
            if (precision != null) t.precision(precision);
            return t.run(false);
        }
    }

    static double worstRelDiff(List<Double> a, List<Double> b) {
        double worst = 0;
        for (int i = 0; i < a.size(); i++) worst = Math.max(worst, Math.abs(b.get(i) - a.get(i)) / a.get(i));
        return worst;
    }

    @ParameterizedTest
    @MethodSource("names")
    void capturedTrainingMatchesEagerTraining(String name, @TempDir Path tmp) throws Exception {
        gpu();
        Architecture a = Architectures.byName(name);
        train(a, false, tmp.resolve("eager"));
        List<Double> eager = losses(tmp.resolve("eager"));
        train(a, true, tmp.resolve("graph"));
        List<Double> graph = losses(tmp.resolve("graph"));
        double worst = worstRelDiff(eager, graph);
        System.out.printf("%s: eager %s%n  graph %s (worst rel diff %.1e)%n", name, eager, graph, worst);
        assertThat(graph).hasSize(6);
        assertThat(worst).as(name).isLessThan(1e-5);
    }

    /**
     * The same in bf16 at width 64 (head dims 32: every family kernel takes the step, MiniMax's MoE included). The
     * kernels are deterministic but for flash attention's dQ, summed by f32 atomics: a replay may round a gradient
     * differently in its last bf16 bit, which six steps of training carry into the loss at about bf16 precision.
     */
    @ParameterizedTest
    @MethodSource("names")
    void capturedBf16TrainingMatchesEagerTraining(String name, @TempDir Path tmp) throws Exception {
        gpu();
        Architecture a = Architectures.byName(name);
        train(a, false, DType.BF16, 64, tmp.resolve("eager"));
        List<Double> eager = losses(tmp.resolve("eager"));
        train(a, true, DType.BF16, 64, tmp.resolve("graph"));
        List<Double> graph = losses(tmp.resolve("graph"));
        double worst = worstRelDiff(eager, graph);
        System.out.printf("%s bf16: eager %s%n  graph %s (worst rel diff %.1e)%n", name, eager, graph, worst);
        assertThat(graph).hasSize(6);
        assertThat(worst).as(name).isLessThan(1e-2);
    }
}
