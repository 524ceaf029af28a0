package fulgur.cuda.zoo;

import static fulgur.cuda.BackendCheck.GPU;
import static fulgur.cuda.BackendCheck.gpu;
import static fulgur.cuda.BackendCheck.relErr;
import static org.assertj.core.api.Assertions.assertThat;

import fulgur.avvp.AvvpBatch;
import fulgur.avvp.AvvpDataset;
import fulgur.avvp.AvvpEvaluation;
import fulgur.avvp.AvvpMetrics;
import fulgur.avvp.AvvpPrediction;
import fulgur.avvp.AvvpTrainer;
import fulgur.avvp.AvvpVideo;
import fulgur.avvp.SyntheticAvvp;
import fulgur.models.leap.LeapConfig;
import fulgur.models.leap.LeapModel;
import fulgur.nn.Parameter;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * LEAP on the GPU through the backend, unchanged: the loss (every term) and every parameter gradient of a batch match
 * the CPU's; a short training run on the GPU (dropout on) evaluates, and its checkpoint predicts the same on the CPU.
 */
@Tag("gpu")
class LeapGpuTest {

    static SyntheticAvvp task() {
        return new SyntheticAvvp(
                new SyntheticAvvp.Settings(5, 6, 10, 16, 32, 16, 64, 16, 32, 0.8, 0.5, 1.0, 0.15, 0.05));
    }

    static LeapConfig config(SyntheticAvvp task) {
        return LeapConfig.small(32, 2, 8)
                .withTask(task.classes().names(), task.settings().dims());
    }

    static AvvpBatch batch(AvvpDataset set, int n) {
        List<AvvpVideo> v = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            v.add(set.get(i));
        }
        return AvvpBatch.of(v);
    }

    @Test
    void lossAndGradientsMatchTheCpu() {
        gpu();
        SyntheticAvvp task = task();
        try (Scope s = Scope.open("leap-gpu");
                LeapModel cm = new LeapModel(config(task), 7);
                LeapModel gm = new LeapModel(config(task), 7)) {
            cm.train(false);
            gm.train(false);
            gm.to(GPU);
            AvvpBatch b = batch(task.split(SyntheticAvvp.Split.TRAIN), 8);
            Map<String, Tensor> cl = cm.loss(b);
            Map<String, Tensor> gl = gm.loss(b);
            assertThat(gl.get("loss").device()).isEqualTo(GPU);
            for (String term : cl.keySet()) {
                double e = Math.abs(gl.get(term).item() - cl.get(term).item())
                        / Math.max(1e-6, Math.abs(cl.get(term).item()));
                System.out.printf(
                        "LEAP %s: cpu %.7f gpu %.7f (rel %.1e)%n",
                        term, cl.get(term).item(), gl.get(term).item(), e);
                assertThat(e).as(term).isLessThan(1e-4);
            }
            cl.get("loss").backward();
            gl.get("loss").backward();
            Map<String, Parameter> cp = cm.namedParameters();
            Map<String, Parameter> gp = gm.namedParameters();
            double worst = 0;
            String worstName = "";
            for (String name : cp.keySet()) {
                double e = relErr(
                        gp.get(name).grad().toDoubleArray(), cp.get(name).grad().toDoubleArray());
                if (e > worst) {
                    worst = e;
                    worstName = name;
                }
            }
            System.out.printf("LEAP: %d parameter gradients, worst rel err %.2e (%s)%n", cp.size(), worst, worstName);
            assertThat(worst).as("worst gradient (" + worstName + ")").isLessThan(1e-3);
        }
    }

    @Test
    void trainsOnTheGpuAndItsCheckpointPredictsTheSameOnTheCpu(@TempDir Path out) throws Exception {
        gpu();
        SyntheticAvvp task = task();
        TrainConfig cfg = new TrainConfig(
                40, 16, 10, 1, 3e-3, 4, LrSchedule.Kind.COSINE, 0.1, 0.01, 0.9, 0.999, 1e-8, 1.0, 20, 0, 1);
        AvvpDataset test = task.split(SyntheticAvvp.Split.TEST);
        try (Scope s = Scope.open("leap-gpu-train");
                LeapModel m = new LeapModel(config(task), 3)) {
            m.to(GPU);
            List<Double> losses = new ArrayList<>();
            AvvpTrainer.Result r = new AvvpTrainer(
                            m,
                            cfg,
                            task.split(SyntheticAvvp.Split.TRAIN),
                            task.split(SyntheticAvvp.Split.VAL),
                            task.spec(),
                            out,
                            new AvvpTrainer.Listener() {
                                @Override
                                public void step(
                                        long step, double lr, Map<String, Double> l, double gradNorm, double seconds) {
                                    losses.add(l.get("loss"));
                                }

                                @Override
                                public void evaluated(long step, AvvpMetrics.Scores scores) {
                                    System.out.printf(
                                            "LEAP on the GPU, step %d: segment-level Type@AV %.3f%n",
                                            step, scores.segment().typeAv());
                                }
                            })
                    .run(false);
            assertThat(r.stepsDone()).isEqualTo(40);
            assertThat(losses).allMatch(Double::isFinite);
            assertThat(losses.get(39)).isLessThan(losses.get(0));
            assertThat(m.randomCounter())
                    .as("dropout drew its masks on the GPU")
                    .isPositive();
            m.train(false);
            AvvpBatch b = batch(test, 16);
            AvvpPrediction onGpu = m.predict(b);
            try (LeapModel back = LeapModel.load(out)) {
                AvvpPrediction onCpu = back.predict(b);
                assertThat(relErr(toDouble(onGpu.audioSegments()), toDouble(onCpu.audioSegments())))
                        .isLessThan(1e-4);
                assertThat(relErr(toDouble(onGpu.visualVideo()), toDouble(onCpu.visualVideo())))
                        .isLessThan(1e-4);
                assertThat(AvvpEvaluation.evaluate(m, test, 32).segment().typeAv())
                        .isGreaterThan(0);
            }
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}
