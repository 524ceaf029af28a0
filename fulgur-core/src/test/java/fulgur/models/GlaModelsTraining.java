package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.data.Mqar;
import fulgur.optim.AdamW;
import fulgur.optim.GradClip;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.function.IntFunction;

/** Shared checks of the GLA-based models (HGRN2, MetaLA): short training runs and decode-vs-forward. */
public final class GlaModelsTraining {
    private GlaModelsTraining() {}

    /** One batch: inputs [B, T] and flattened targets. */
    public record Step(int[] inputs, int[] targets, int batch, int seqLen) {}

    /** Trains with AdamW for {@code steps} steps and returns the per-step losses. */
    public static double[] train(LanguageModel m, int steps, double lr, IntFunction<Step> data) {
        AdamW opt = new AdamW(ParamGroup.all(m.module(), 0.0), lr);
        double[] losses = new double[steps];
        for (int s = 0; s < steps; s++) {
            opt.zeroGrad();
            try (Scope scope = Scope.open()) {
                Step b = data.apply(s);
                Tensor loss = m.loss(
                        Tensor.ofInts(b.inputs(), b.batch(), b.seqLen()),
                        Tensor.ofInts(b.targets(), b.batch() * b.seqLen()));
                loss.backward();
                losses[s] = loss.item();
            }
            GradClip.clipGlobalNorm(m.module().parameters(), 1.0);
            opt.step();
        }
        return losses;
    }

    /** Mean of the first and last {@code n} values. */
    public static double[] firstAndLast(double[] losses, int n) {
        return new double[] {
            Arrays.stream(losses, 0, n).average().orElseThrow(),
            Arrays.stream(losses, losses.length - n, losses.length).average().orElseThrow()
        };
    }

    /** MQAR batches: 4 key-value pairs, sequences of 32, vocabulary 16 (keys 1..7, values 8..15). */
    public static IntFunction<Step> mqar(int batch) {
        Mqar task = new Mqar(Mqar.Config.of(16, 32, 4));
        return s -> {
            var b = task.batch(11, s, batch);
            return new Step(b.inputs(), b.targets(), b.batch(), b.seqLen());
        };
    }

    /** The first 20 KB of the Shakespeare excerpt shipped with the tests. */
    public static byte[] tinyShakespeare() {
        try {
            byte[] all = Files.readAllBytes(LmTestKit.findShakespeare());
            return Arrays.copyOf(all, Math.min(all.length, 20_000));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Byte-level batches of random windows of {@code text}. */
    public static IntFunction<Step> bytes(byte[] text, int batch, int seqLen) {
        return s -> {
            var r = new java.util.SplittableRandom(1000 + s);
            int[] in = new int[batch * seqLen];
            int[] tg = new int[batch * seqLen];
            for (int b = 0; b < batch; b++) {
                int start = r.nextInt(text.length - seqLen - 1);
                for (int t = 0; t < seqLen; t++) {
                    in[b * seqLen + t] = text[start + t] & 0xff;
                    tg[b * seqLen + t] = text[start + t + 1] & 0xff;
                }
            }
            return new Step(in, tg, batch, seqLen);
        };
    }

    /**
     * Asserts that a prefill of {@code prefill} tokens, then a short multi-token step, then single tokens through
     * the cache reproduce the parallel forward's logits.
     */
    public static void assertDecodeMatchesForward(LanguageModel m, Tensor ids, int prefill, double tol) {
        int t = ids.size(1);
        float[] full = m.forward(ids).toFloatArray();
        float[] got = new float[full.length];
        try (DecodeCache cache = m.newCache()) {
            int i = 0;
            int[] sizes = {prefill, 3};
            for (int n : sizes) {
                copyRows(m.forward(ids.narrow(1, i, n), cache), got, i, n, t);
                i += n;
            }
            for (; i < t; i++) {
                copyRows(m.forward(ids.narrow(1, i, 1), cache), got, i, 1, t);
            }
            assertThat(cache.position()).isEqualTo(t);
        }
        double[] expect = new double[full.length];
        for (int i = 0; i < full.length; i++) {
            expect[i] = full[i];
        }
        assertThat(GradCheck.relErr(got, expect)).isLessThan(tol);
    }

    private static void copyRows(Tensor logits, float[] dst, int start, int len, int t) {
        int b = logits.size(0);
        int v = logits.size(2);
        float[] src = logits.toFloatArray();
        for (int i = 0; i < b; i++) {
            System.arraycopy(src, i * len * v, dst, (i * t + start) * v, len * v);
        }
    }
}
