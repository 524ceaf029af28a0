package fulgur.cuda;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.dev;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.randn;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.Backends;
import fulgur.backend.DeferredChecks;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.StepGraph;
import fulgur.data.TokenStream;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.ops.Activations;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.DataSources;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import fulgur.train.TrainingListener;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * CUDA-graph capture of training steps: replays equal eager steps, the private pool keeps the graph's memory apart,
 * host reads inside a capture fail clearly, index checks are deferred and verified after each replay.
 */
@Tag("gpu")
class CudaGraphGpuTest {

    /** A two-layer regression step (matmuls, SiLU, a squared error, clipping, AdamW): no atomics, so replays are exact. */
    static final class Mlp {
        final Parameter w1, w2;
        final AdamW opt;
        final Tensor x, y, loss = Tensor.zeros(DType.F64, GPU);

        Mlp(long seed) {
            w1 = new Parameter(dev(randn(seed, DType.F32, 64, 96)).mul(0.1), true);
            w2 = new Parameter(dev(randn(seed + 1, DType.F32, 96, 8)).mul(0.1), true);
            opt = new AdamW(List.of(new ParamGroup(Map.of("w1", w1, "w2", w2), 0.1, 1.0)), 1e-2);
            x = dev(randn(seed + 2, DType.F32, 256, 64));
            y = dev(randn(seed + 3, DType.F32, 256, 8));
        }

        void body() {
            opt.zeroGrad();
            try (Scope s = Scope.open("mlp step")) {
                Tensor h = Activations.silu(x.matmul(w1.value()));
                Tensor d = h.matmul(w2.value()).sub(y);
                Tensor l = d.mul(d).mean();
                l.backward();
                loss.copyFrom(l.detach());
                GradClip.clipGlobalNormOnDevice(opt.parameters(), 0.5);
            }
            opt.update();
        }
    }

    @Test
    void replaysOfACapturedStepEqualEagerStepsBitForBit() {
        CudaBackend be = gpu();
        try (Scope s = Scope.open("graph vs eager")) {
            Mlp eager = new Mlp(7);
            Mlp graphed = new Mlp(7);
            List<Double> eagerLoss = new ArrayList<>();
            List<Double> graphLoss = new ArrayList<>();
            for (int step = 0; step < 6; step++) {
                eager.opt.setLr(1e-2 * (1 + step)); // a changing lr: the graph must read it from the device
                eager.opt.advance();
                eager.body();
                eagerLoss.add(eager.loss.item());
            }
            graphed.opt.setLr(1e-2);
            graphed.opt.advance();
            graphed.body(); // eager first step: creates the moments
            graphLoss.add(graphed.loss.item());
            long before = be.memoryReport().graphPoolBytes();
            try (StepGraph g = runtime().capture(graphed::body)) {
                assertThat(g.poolBytes()).isPositive();
                for (int step = 1; step < 6; step++) {
                    graphed.opt.setLr(1e-2 * (1 + step));
                    graphed.opt.advance();
                    g.replay();
                    graphLoss.add(graphed.loss.item());
                }
            }
            assertThat(be.memoryReport().graphPoolBytes()).isEqualTo(before);
            System.out.println("eager losses " + eagerLoss + "\ngraph losses " + graphLoss);
            assertThat(graphLoss).containsExactlyElementsOf(eagerLoss);
            assertThat(graphed.w1.value().toFloatArray())
                    .containsExactly(eager.w1.value().toFloatArray());
            assertThat(graphed.w2.value().toFloatArray())
                    .containsExactly(eager.w2.value().toFloatArray());
            assertThat(graphLoss.get(5)).isLessThan(graphLoss.get(0));
        }
    }

    @Test
    void aHostReadInsideACaptureIsAClearErrorAndLeavesTheBackendUsable() {
        CudaBackend be = gpu();
        long poolBefore = be.memoryReport().graphPoolBytes();
        try (Scope s = Scope.open("host read")) {
            Tensor a = dev(randn(3, DType.F32, 1000));
            assertThatThrownBy(() -> runtime().capture(() -> a.mul(2.0).sum().item()))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("captured")
                    .hasMessageContaining("item()");
            assertThat(be.memoryReport().graphPoolBytes()).isEqualTo(poolBefore);
            assertThat(a.mul(2.0).sum().item())
                    .isCloseTo(2 * a.sum().item(), org.assertj.core.data.Offset.offset(1e-3));
            assertThatThrownBy(
                            () -> runtime().capture(() -> Activations.dropout(a, 0.5, new fulgur.tensor.Rng(1), true)))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("dropout");
        }
    }

    @Test
    void hostDataUploadedInsideACaptureIsReplayedAsAConstant() {
        CudaBackend be = gpu();
        try (Scope s = Scope.open("upload")) {
            Tensor acc = dev(Tensor.zeros(4));
            try (StepGraph g = runtime()
                    .capture(() -> acc.copyFrom(
                            acc.add(Tensor.of(new float[] {1, 2, 3, 4}, 4).to(GPU))))) {
                g.replay();
                g.replay();
                g.replay();
            }
            assertThat(acc.toFloatArray()).containsExactly(3, 6, 9, 12);
        }
    }

    @Test
    void indexChecksAreDeferredToTheEndOfTheScopeAndVerifiedAfterEachReplay() {
        CudaBackend be = gpu();
        try (Scope s = Scope.open("checks")) {
            Tensor table = dev(randn(5, DType.F32, 10, 4));
            Tensor ids = dev(Tensor.ofInts(new int[] {1, 2, 3}, 3));
            DeferredChecks checks = runtime().deferChecks();
            ids.copyFrom(Tensor.ofInts(new int[] {1, 12, 3}, 3));
            Tensor rows = be.embedding(table, ids); // no exception yet: nothing waited for the device
            assertThat(rows.shape()).containsExactly(3, 4);
            assertThatThrownBy(checks::close)
                    .isInstanceOf(IndexOutOfBoundsException.class)
                    .hasMessageContaining("embedding")
                    .hasMessageContaining("position 1")
                    .hasMessageContaining("[0, 10)");

            Tensor out = dev(Tensor.zeros(3, 4));
            ids.copyFrom(Tensor.ofInts(new int[] {0, 9, 4}, 3));
            try (StepGraph g = runtime().capture(() -> out.copyFrom(be.embedding(table, ids)))) {
                g.replay();
                assertThat(out.toFloatArray()).containsExactly(rows(table, 0, 9, 4));
                ids.copyFrom(Tensor.ofInts(new int[] {0, -1, 4}, 3));
                assertThatThrownBy(g::replay)
                        .isInstanceOf(IndexOutOfBoundsException.class)
                        .hasMessageContaining("position 1");
                ids.copyFrom(Tensor.ofInts(new int[] {2, 2, 2}, 3));
                g.replay(); // the flag is re-armed by every replay
                assertThat(out.toFloatArray()).containsExactly(rows(table, 2, 2, 2));
            }
        }
    }

    static float[] rows(Tensor table, int... ids) {
        float[] t = table.toFloatArray();
        int d = table.size(1);
        float[] out = new float[ids.length * d];
        for (int i = 0; i < ids.length; i++) System.arraycopy(t, ids[i] * d, out, i * d, d);
        return out;
    }

    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream());

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

    static List<Double> trainLosses(Path dir) {
        return LOSSES.get(dir);
    }

    /** The Trainer with --cuda-graph against eager training (embedding gradients add with atomics: not bitwise). */
    @Test
    void trainingATransNormerWithACapturedStepTracksEagerTraining(@TempDir Path tmp) throws Exception {
        gpu();
        int[] corpus = new int[20000];
        for (int i = 0; i < corpus.length; i++) corpus[i] = (i * 7 + (i / 13) * 3) % 50;
        TnlConfig mc = TnlConfig.small(50, 32, 2, 2);
        for (DType precision : new DType[] {null, DType.BF16}) {
            TrainConfig cfg = new TrainConfig(
                    8, 4, 64, 2, 3e-3, 2, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
            List<List<Double>> runs = new ArrayList<>();
            for (boolean graph : new boolean[] {false, false, true}) {
                Path out = tmp.resolve(precision + "-" + graph + "-" + runs.size());
                try (TnlModel m = new TnlModel(mc, 5)) {
                    m.to(GPU);
                    new Trainer(m, cfg, DataSources.packed(TokenStream.of(corpus), 4, 64, 3), null, out, QUIET)
                            .listener(RECORD)
                            .precision(precision)
                            .cudaGraph(graph)
                            .run(false);
                }
                runs.add(trainLosses(out));
            }
            double noise = 0, diff = 0;
            for (int i = 0; i < runs.get(0).size(); i++) {
                double e = runs.get(0).get(i);
                noise = Math.max(noise, Math.abs(runs.get(1).get(i) - e) / e);
                diff = Math.max(diff, Math.abs(runs.get(2).get(i) - e) / e);
            }
            System.out.printf(
                    "TNL %s: eager %s%n  graph %s%n  eager-vs-eager %.2e, graph-vs-eager %.2e%n",
                    precision, runs.get(0), runs.get(2), noise, diff);
            assertThat(runs.get(2)).hasSize(8);
            assertThat(diff).as("graph vs eager, " + precision).isLessThan(precision == null ? 1e-5 : 1e-2);
            assertThat(runs.get(2).get(7)).isLessThan(runs.get(2).get(0));
        }
    }

    private static DeviceRuntime runtime() {
        return Backends.runtime(GPU);
    }
}
