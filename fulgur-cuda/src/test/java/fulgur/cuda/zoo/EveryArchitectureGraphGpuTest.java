package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.data.Mqar;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
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
 * same model: the losses agree. An architecture whose step reads the device on the host (MoE routing reads the
 * top-k choice to size its groups) must fail with a message that says so instead.
 */
@Tag("gpu")
class EveryArchitectureGraphGpuTest {
  static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

  static Stream<String> names() { return Architectures.all().stream().map(Architecture::name); }

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
    public void stepDone(Step step) { LOSSES.get(dir).add(step.loss()); }
  };

  static List<Double> losses(Path dir) { return LOSSES.get(dir); }

  static Trainer.Result train(Architecture a, boolean graph, Path out) {
    Mqar task = new Mqar(Mqar.Config.of(32, 32, 4));
    TrainConfig cfg = new TrainConfig(6, 8, 32, 1, 3e-3, 1, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 3);
    try (LanguageModel m = a.build(a.smallConfig(32, 32, 2, 2), 3)) {
      m.module().to(GPU);
      return new Trainer(m, cfg, DataSources.mqar(task, 3, 8), null, out, QUIET).listener(RECORD).cudaGraph(graph).run(false);
    }
  }

  @ParameterizedTest
  @MethodSource("names")
  void capturedTrainingMatchesEagerTraining(String name, @TempDir Path tmp) throws Exception {
    gpu();
    Architecture a = Architectures.byName(name);
    train(a, false, tmp.resolve("eager"));
    List<Double> eager = losses(tmp.resolve("eager"));
    if (name.equals("minimax")) {
      assertThatThrownBy(() -> train(a, true, tmp.resolve("graph"))).isInstanceOf(IllegalStateException.class)
          .hasMessageContaining("CUDA graph is being captured");
      return;
    }
    train(a, true, tmp.resolve("graph"));
    List<Double> graph = losses(tmp.resolve("graph"));
    double worst = 0;
    for (int i = 0; i < eager.size(); i++) worst = Math.max(worst, Math.abs(graph.get(i) - eager.get(i)) / eager.get(i));
    System.out.printf("%s: eager %s%n  graph %s (worst rel diff %.1e)%n", name, eager, graph, worst);
    assertThat(graph).hasSize(6);
    assertThat(worst).as(name).isLessThan(1e-5);
  }
}
