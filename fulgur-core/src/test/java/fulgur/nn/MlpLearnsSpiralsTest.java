package fulgur.nn;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.Losses;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** End to end: an MLP built from the foundation's parts learns the two-spirals problem with AdamW. */
class MlpLearnsSpiralsTest {

    static final class Mlp extends Module {
        final Linear l1;
        final Linear l2;
        final Linear l3;

        Mlp(Rng rng) {
            l1 = child("l1", new Linear(2, 64, true, rng));
            l2 = child("l2", new Linear(64, 64, true, rng));
            l3 = child("l3", new Linear(64, 2, true, rng));
        }

        Tensor forward(Tensor x) {
            return l3.forward(l2.forward(l1.forward(x).tanh()).tanh());
        }
    }

    /** Two interleaved spirals, n points each, labels 0 and 1. */
    static float[][] spirals(int n) {
        float[] xs = new float[4 * n];
        float[] ys = new float[2 * n];
        for (int i = 0; i < n; i++) {
            double r = 0.2 + 2.0 * i / n;
            double t = 3.0 * Math.PI * i / n;
            xs[4 * i] = (float) (r * Math.cos(t));
            xs[4 * i + 1] = (float) (r * Math.sin(t));
            xs[4 * i + 2] = (float) (-r * Math.cos(t));
            xs[4 * i + 3] = (float) (-r * Math.sin(t));
            ys[2 * i] = 0;
            ys[2 * i + 1] = 1;
        }
        return new float[][] {xs, ys};
    }

    @Test
    void learnsTwoSpiralsToFullAccuracy() {
        int n = 100;
        float[][] data = spirals(n);
        int[] labels = new int[2 * n];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = (int) data[1][i];
        }
        try (Mlp mlp = new Mlp(new Rng(7))) {
            Tensor x = Tensor.of(data[0], 2 * n, 2);
            Tensor y = Tensor.ofInts(labels, 2 * n);
            AdamW opt = new AdamW(ParamGroup.decayAndNoDecay(mlp, 0.0), 0.01);
            double loss = Double.NaN;
            for (int step = 0; step < 1500; step++) {
                try (Scope s = Scope.open()) {
                    opt.zeroGrad();
                    Tensor l = Losses.crossEntropy(mlp.forward(x), y);
                    l.backward();
                    GradClip.clipGlobalNorm(mlp.parameters(), 5.0);
                    opt.step();
                    loss = l.item();
                }
            }
            long[] pred = mlp.forward(x).argmax(-1, false).toLongArray();
            int correct = 0;
            for (int i = 0; i < pred.length; i++) {
                if (pred[i] == labels[i]) {
                    correct++;
                }
            }
            assertThat(loss).isLessThan(0.05);
            assertThat((double) correct / pred.length).isGreaterThanOrEqualTo(0.99);
        }
    }
}
