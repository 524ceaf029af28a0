package fulgur.models.lcsm;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.models.lcsm.LcsmConfig.Preset;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Small LCSM models learn: MQAR (linear-RNN instance) and tiny Shakespeare bytes (SSM instance). */
class LcsmTrainingTest extends ScopedTest {

    /** Trains for {@code steps} steps on batches from {@code data}; returns the losses. */
    static double[] train(LcsmModel m, int steps, double lr, java.util.function.IntFunction<Batch> data) {
        AdamW opt = new AdamW(ParamGroup.decayAndNoDecay(m, 0.0), lr);
        double[] losses = new double[steps];
        for (int step = 0; step < steps; step++) {
            try (Scope s = Scope.open()) {
                Batch bt = data.apply(step);
                opt.zeroGrad();
                Tensor l = m.loss(
                        Tensor.ofInts(bt.inputs(), bt.batch(), bt.seqLen()),
                        Tensor.ofInts(bt.targets(), bt.batch() * bt.seqLen()));
                l.backward();
                GradClip.clipGlobalNorm(m.parameters(), 1.0);
                opt.step();
                losses[step] = l.item();
            }
        }
        return losses;
    }

    static double mean(double[] v, int from, int to) {
        return Arrays.stream(v, from, to).average().orElseThrow();
    }

    @Test
    void learnsMqar() {
        Mqar mqar = new Mqar(Mqar.Config.of(32, 32, 4));
        try (LcsmModel m = new LcsmModel(LcsmConfig.small(32, 32, 2, 8, Preset.LINEAR_RNN), 1)) {
            double[] losses = train(m, 100, 3e-3, step -> mqar.batch(7, step, 16));
            assertThat(mean(losses, 90, 100)).as(Arrays.toString(losses)).isLessThan(0.8 * mean(losses, 0, 10));
        }
    }

    @Test
    void learnsTinyShakespeare() throws Exception {
        Path file = fulgur.models.LmTestKit.findShakespeare();
        byte[] text =
                Arrays.copyOf(Files.readString(file, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8), 20_000);
        int b = 4;
        int t = 32;
        try (LcsmModel m = new LcsmModel(LcsmConfig.small(256, 32, 2, 8, Preset.SSM), 2)) {
            double[] losses = train(m, 40, 1e-2, step -> {
                long[] starts = Ref.ints(100 + step, b, text.length - t - 1);
                int[] in = new int[b * t];
                int[] tg = new int[b * t];
                for (int r = 0; r < b; r++) {
                    for (int q = 0; q < t; q++) {
                        in[r * t + q] = text[(int) starts[r] + q] & 0xff;
                        tg[r * t + q] = text[(int) starts[r] + q + 1] & 0xff;
                    }
                }
                return new Batch(b, t, in, tg);
            });
            assertThat(mean(losses, 30, 40)).as(Arrays.toString(losses)).isLessThan(0.8 * mean(losses, 0, 10));
        }
    }
}
