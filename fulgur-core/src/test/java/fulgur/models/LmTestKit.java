package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Checks every language model of the zoo must pass: decode == forward, and loss falling on MQAR and on text. */
public final class LmTestKit {
    private LmTestKit() {}

    public static Tensor randomIds(long seed, int b, int t, int vocab) {
        Rng r = new Rng(seed);
        int[] ids = new int[b * t];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return Tensor.ofInts(ids, b, t);
    }

    /** Prefill {@code prefill} tokens, then one token at a time through the cache: the logits equal the parallel forward's. */
    public static void assertDecodeMatchesForward(LanguageModel m, Tensor ids, int prefill, double tol) {
        int b = ids.size(0);
        int t = ids.size(1);
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            m.module().train(false);
            double[] full = m.forward(ids).toDoubleArray();
            int v = m.vocabSize();
            double[] got = new double[full.length];
            try (DecodeCache cache = m.newCache()) {
                copyRows(
                        m.forward(ids.narrow(1, 0, prefill).contiguous(), cache).toDoubleArray(),
                        got,
                        b,
                        0,
                        prefill,
                        t,
                        v);
                for (int i = prefill; i < t; i++) {
                    try (Scope step = Scope.open()) {
                        copyRows(
                                m.forward(ids.narrow(1, i, 1).contiguous(), cache)
                                        .toDoubleArray(),
                                got,
                                b,
                                i,
                                1,
                                t,
                                v);
                    }
                }
                assertThat(cache.position()).isEqualTo(t);
            }
            assertThat(GradCheck.relErr(got, full)).as("decode vs forward").isLessThan(tol);
        }
    }

    private static void copyRows(double[] src, double[] dst, int b, int start, int len, int t, int v) {
        for (int i = 0; i < b; i++) {
            System.arraycopy(src, i * len * v, dst, (i * t + start) * v, len * v);
        }
    }

    /** Trains on MQAR batches with AdamW; returns the loss of every step. */
    public static double[] trainMqar(LanguageModel m, Mqar.Config task, int steps, int batch, double lr) {
        Mqar mqar = new Mqar(task);
        return train(m, steps, lr, step -> mqar.batch(7, step, batch));
    }

    /** Trains a byte-level model on the first {@code bytes} bytes of the shipped Shakespeare excerpt. */
    public static double[] trainShakespeare(LanguageModel m, int bytes, int steps, int batch, int seqLen, double lr) {
        Path file = findShakespeare();
        if (file == null) {
            return null;
        }
        byte[] text;
        try {
            text = Arrays.copyOf(
                    Files.readString(file, StandardCharsets.UTF_8).getBytes(StandardCharsets.UTF_8), bytes);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        Rng rng = new Rng(11);
        return train(m, steps, lr, step -> {
            int[] in = new int[batch * seqLen];
            int[] tg = new int[batch * seqLen];
            for (int b = 0; b < batch; b++) {
                int start = rng.nextInt(text.length - seqLen - 1);
                for (int i = 0; i < seqLen; i++) {
                    in[b * seqLen + i] = text[start + i] & 0xff;
                    tg[b * seqLen + i] = text[start + i + 1] & 0xff;
                }
            }
            return new Batch(batch, seqLen, in, tg);
        });
    }

    /**
     * The Shakespeare excerpt shipped with the tests (the first 200,000 bytes of the public-domain plays as collected
     * in tinyshakespeare).
     */
    public static Path findShakespeare() {
        try {
            return Path.of(
                    LmTestKit.class.getResource("/fulgur/text/shakespeare.txt").toURI());
        } catch (java.net.URISyntaxException | NullPointerException e) {
            throw new IllegalStateException("test resource fulgur/text/shakespeare.txt is missing", e);
        }
    }

    private static double[] train(LanguageModel m, int steps, double lr, java.util.function.LongFunction<Batch> data) {
        m.module().train(true);
        AdamW opt = new AdamW(ParamGroup.all(m.module(), 0.0), lr);
        double[] losses = new double[steps];
        try {
            for (int step = 0; step < steps; step++) {
                try (Scope s = Scope.open()) {
                    Batch b = data.apply(step);
                    Tensor loss = m.loss(
                            Tensor.ofInts(b.inputs(), b.batch(), b.seqLen()),
                            Tensor.ofInts(b.targets(), b.batch() * b.seqLen()));
                    losses[step] = loss.item();
                    m.module().zeroGrad();
                    loss.backward();
                    opt.step();
                }
            }
        } finally {
            opt.release();
        }
        return losses;
    }

    /** Mean of the first and last {@code n} entries. */
    public static double[] firstLastMeans(double[] losses, int n) {
        double a = 0;
        double z = 0;
        for (int i = 0; i < n; i++) {
            a += losses[i];
            z += losses[losses.length - 1 - i];
        }
        return new double[] {a / n, z / n};
    }
}
