package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.data.TokenStream;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tensor.Finite;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import fulgur.train.DataSources;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import fulgur.train.TrainingListener;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Non-finite values on the GPU: found in device tensors, and a training run stops on them with and without a
 * captured step, where the gradient norm comes back with the losses in one transfer.
 */
@Tag("gpu")
class NonFiniteGpuTest {

    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

    static int[] corpus() {
        int[] c = new int[20000];
        for (int i = 0; i < c.length; i++) c[i] = (i * 7 + (i / 13) * 3) % 50;
        return c;
    }

    @Test
    void deviceTensorsAreScannedForNonFiniteValues() {
        gpu();
        try (Scope s = Scope.open("finite")) {
            float[] v = new float[1000];
            v[637] = Float.NEGATIVE_INFINITY;
            for (DType d : new DType[] {DType.F32, DType.BF16}) {
                Tensor t = Tensor.of(v, 1000).to(d).to(GPU);
                assertThat(Finite.firstNonFinite(t)).isEqualTo(637);
                assertThat(Finite.describe("w", t)).isEqualTo("'w' has -Infinity at element 637 of [1000]");
            }
        }
    }

    @Test
    void theGradientNormOfACapturedStepIsTheEagerOne(@TempDir Path tmp) throws Exception {
        gpu();
        TrainConfig cfg =
                new TrainConfig(6, 4, 64, 2, 3e-3, 2, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
        List<Double> eager = new ArrayList<>();
        List<Double> graphed = new ArrayList<>();
        for (boolean graph : new boolean[] {false, true}) {
            List<Double> norms = graph ? graphed : eager;
            try (TnlModel m = new TnlModel(TnlConfig.small(50, 32, 2, 2), 5)) {
                m.to(GPU);
                new Trainer(
                                m,
                                cfg,
                                DataSources.packed(TokenStream.of(corpus()), 4, 64, 3),
                                null,
                                tmp.resolve("g" + graph),
                                QUIET)
                        .cudaGraph(graph)
                        .listener(new TrainingListener() {
                            @Override
                            public void stepDone(Step step) {
                                norms.add(step.gradNorm());
                            }
                        })
                        .run(false);
            }
        }
        assertThat(graphed)
                .hasSize(6)
                .allSatisfy(g -> assertThat(g).isPositive().isFinite());
        for (int i = 0; i < 6; i++) {
            assertThat(graphed.get(i))
                    .as("step " + (i + 1))
                    .isCloseTo(eager.get(i), org.assertj.core.data.Percentage.withPercentage(1e-2));
        }
    }

    @Test
    void aRunBlownUpOnTheGpuStopsAndNeverSavesANonFiniteCheckpoint(@TempDir Path tmp) throws Exception {
        gpu();
        TrainConfig cfg =
                new TrainConfig(60, 4, 64, 1, 1e4, 0, LrSchedule.Kind.CONSTANT, 0.1, 0.1, 0.9, 0.95, 1e-8, 0, 1, 1, 11);
        var held = fulgur.data.PackedSequenceSampler.sequential(TokenStream.of(corpus()), 4, 64)
                .next();
        for (boolean graph : new boolean[] {false, true}) {
            Path out = tmp.resolve("g" + graph);
            try (TnlModel m = new TnlModel(TnlConfig.small(50, 32, 2, 2), 5)) {
                m.to(GPU);
                assertThatThrownBy(() -> new Trainer(
                                        m,
                                        cfg,
                                        DataSources.packed(TokenStream.of(corpus()), 4, 64, 3),
                                        Trainer.lossOn(List.of(held)),
                                        out,
                                        QUIET)
                                .cudaGraph(graph)
                                .run(false))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("training diverged at step")
                        .hasMessageContaining("try a lower learning rate");
            }
            if (Files.exists(out.resolve("checkpoint"))) {
                try (TnlModel back = new TnlModel(TnlConfig.small(50, 32, 2, 2), 1)) {
                    Checkpoint.load(out.resolve("checkpoint"), back, null); // refuses a non-finite tensor
                }
            }
        }
    }
}
