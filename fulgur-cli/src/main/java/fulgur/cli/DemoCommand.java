package fulgur.cli;

import fulgur.generate.Generator;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.train.Checkpoint;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(
        name = "demo",
        mixinStandardHelpOptions = true,
        description = {
            "Train a small TransNormerLLM from scratch and show what it learned.",
            "Default: a character-level model learns to write like Shakespeare (an excerpt built into fulgur, so nothing is downloaded);",
            "its writing before and after training is shown next to the training text, with the validation loss in bits per character.",
            "--data FILE trains on your text instead; --task mqar trains multi-query associative recall and prints recall accuracy."
        })
public final class DemoCommand implements Callable<Integer> {
    @Option(
            names = "--data",
            description =
                    "A text file to train the character-level model on instead of the built-in Shakespeare excerpt.")
    Path data;

    @Option(names = "--task", description = "mqar: multi-query associative recall instead of text.")
    String task;

    @Option(names = "--steps", description = "Optimizer steps (default: 300 on text, 1500 on MQAR).")
    Long steps;

    @Option(names = "--out", defaultValue = "runs/demo", description = "Output directory. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Option(names = "--seed", defaultValue = "1234", description = "Seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    static final String BUILT_IN = "shakespeare.txt";

    @Override
    public Integer call() throws Exception {
        if (task != null && !task.equalsIgnoreCase("mqar")) {
            throw new IllegalArgumentException("unknown --task '" + task + "' (available: mqar)");
        }
        if (task != null && data != null) {
            throw new IllegalArgumentException("give --data FILE or --task mqar, not both");
        }
        return task != null ? mqar() : text();
    }

    private int text() throws Exception {
        Path file = data;
        if (file == null) {
            file = out.resolve("data").resolve(BUILT_IN);
            Files.createDirectories(file.getParent());
            try (InputStream in = DemoCommand.class.getResourceAsStream(BUILT_IN)) {
                Files.copy(in, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
        } else if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--data: no such file: " + file);
        }
        DataOptions d = new DataOptions();
        d.data = List.of(file);
        ModelOptions m = new ModelOptions();
        m.model = "tnl";
        m.dim = 128;
        m.layers = 3;
        m.heads = 4;
        TrainOptions t = new TrainOptions();
        t.seed = seed;
        TrainConfig cfg = defaults(t, steps != null ? steps : 300, 16, 128, 3e-3, 100);
        String name = data == null ? "Shakespeare (an excerpt of the plays built into fulgur)" : file.toString();
        System.out.println(
                "fulgur demo: a 3-layer TransNormerLLM learns to write like " + name + ", one character at a time");
        double unigram = unigramBitsPerByte(file);
        Files.createDirectories(out);
        System.out.println();
        System.out.println("before training it writes (temperature 0.8):");
        String config = Architectures.byName(m.model)
                .smallConfig(ByteTokenizer.withEndOfText().vocabSize(), m.dim, m.layers, m.heads);
        try (LanguageModel untrained = Architectures.forConfig(config).build(config, seed)) {
            print(sample(untrained));
        }
        System.out.println();
        long start = System.nanoTime();
        Trainer.Result r = TrainCommand.run(d, m, cfg, out, false, false, null, null, false);
        double secs = (System.nanoTime() - start) / 1e9;
        double bits = r.lastEval().getOrDefault("loss", Double.NaN) / Math.log(2);
        System.out.println();
        System.out.printf(
                "after %d steps (%.0f s, %.0f characters/s) it writes:%n", r.stepsDone(), secs, r.tokensPerSecond());
        Path ck = Checkpoint.resolve(out.resolve("checkpoint"));
        try (LanguageModel model = Architectures.build(ck.resolve(Checkpoint.CONFIG), 0)) {
            model.module()
                    .loadStateDict(TensorIo.load(ck.resolve(Checkpoint.MODEL)).tensors(), true);
            print(sample(model));
        }
        System.out.println("the training text reads:");
        print(excerpt(file));
        System.out.println();
        System.out.println("summary");
        System.out.printf(
                "  validation loss: %.2f bits per character (untrained: %.2f, a uniform guess over 257 symbols; %.2f knowing only how often each character occurs)%n",
                bits, Math.log(257) / Math.log(2), unigram);
        if (bits < unigram - 1.5) {
            System.out.println(
                    "  the model has learned far more than letter frequencies: words, spelling, line breaks and the shape of a play");
        } else {
            System.out.println(
                    "  the model has not yet learned much beyond letter frequencies: train longer with --steps");
        }
        System.out.println("  checkpoint: " + out.resolve("checkpoint").toAbsolutePath()
                + "  (fulgur generate --model-dir " + out + " --prompt 'ROMEO:')");
        System.out.println("  metrics:    " + out.resolve("metrics.jsonl").toAbsolutePath());
        System.out.println("  loss curve: " + out.resolve("loss.png").toAbsolutePath());
        return 0;
    }

    private int mqar() throws Exception {
        DataOptions d = new DataOptions();
        ModelOptions m = new ModelOptions();
        TrainOptions t = new TrainOptions();
        t.seed = seed;
        m.model = "tnl";
        m.layers = 2;
        m.heads = 4;
        d.task = "mqar";
        d.mqarVocab = 32;
        d.mqarPairs = 4;
        m.dim = 64;
        m.lrpeAll = true;
        TrainConfig cfg = defaults(t, steps != null ? steps : 1500, 32, 32, 3e-3, 150);
        System.out.println("fulgur demo: a 2-layer TransNormerLLM (with LRPE) learns multi-query associative recall");
        System.out.println("(each sequence lists 4 key-value pairs, then asks for the values of keys seen earlier;");
        System.out.println(
                " chance accuracy is 1/16; knowing which values occur in the sequence gives 1/4; binding keys to values gives 1)");
        long start = System.nanoTime();
        Trainer.Result r = TrainCommand.run(d, m, cfg, out, false, false, null, null, false);
        double secs = (System.nanoTime() - start) / 1e9;
        System.out.println();
        System.out.println("summary");
        System.out.printf("  trained %d steps in %.0f s (%.0f tokens/s)%n", r.stepsDone(), secs, r.tokensPerSecond());
        double acc = r.lastEval().getOrDefault("accuracy", Double.NaN);
        double loss = r.lastEval().getOrDefault("loss", Double.NaN);
        System.out.printf(
                "  recall accuracy on held-out sequences: %.1f %% (chance 6.25 %%), loss %.3f (chance ln 16 = %.3f)%n",
                100 * acc, loss, Math.log(16));
        if (loss < Math.log(4) + 0.1 && acc < 0.5) {
            System.out.println(
                    "  the model has learned which 4 values occur in each sequence (loss ≈ ln 4); binding each key to its");
            System.out.println(
                    "  value takes a decay-only linear-attention model far more steps (MQAR is its hardest task): try --steps 20000");
        }
        System.out.println("  checkpoint: " + out.resolve("checkpoint").toAbsolutePath()
                + "  (fulgur eval mqar --model-dir " + out + ")");
        System.out.println("  metrics:    " + out.resolve("metrics.jsonl").toAbsolutePath());
        return 0;
    }

    private static TrainConfig defaults(TrainOptions t, long steps, int batch, int seq, double lr, long evalEvery) {
        t.steps = steps;
        t.batchSize = batch;
        t.seqLen = seq;
        t.lr = lr;
        t.evalEvery = evalEvery;
        t.schedule = "cosine";
        t.accumulation = 1;
        t.minLrFraction = 0.1;
        t.weightDecay = 0.1;
        t.gradClip = 1.0;
        return t.build(steps, batch, seq, lr, evalEvery);
    }

    private static String sample(LanguageModel model) {
        return Generator.generate(
                        model,
                        ByteTokenizer.withEndOfText(),
                        "\n",
                        new Generator.Settings(240, 0.8, 0, 1.0, 7, List.of()),
                        null)
                .text();
    }

    /** About 240 characters of the text from its middle, starting at a line. */
    static String excerpt(Path file) throws IOException {
        String s = Files.readString(file, StandardCharsets.UTF_8);
        int from = s.indexOf("\n\n", s.length() / 2);
        from = from < 0 ? 0 : from + 2;
        return s.substring(from, Math.min(s.length(), from + 240));
    }

    /** Prints text indented, control and unprintable characters shown as '·' (an untrained model writes any byte). */
    private static void print(String text) {
        for (String line : text.split("\n", -1)) {
            StringBuilder b = new StringBuilder("    | ");
            line.codePoints().forEach(c -> {
                int type = Character.getType(c);
                boolean visible = c == ' '
                        || !(Character.isISOControl(c)
                                || c == 0xFFFD
                                || type == Character.UNASSIGNED
                                || type == Character.FORMAT
                                || type == Character.PRIVATE_USE
                                || type == Character.SURROGATE
                                || Character.isWhitespace(c));
                b.appendCodePoint(visible ? c : '·');
            });
            System.out.println(b);
        }
    }

    /** Entropy of the file's byte frequencies, in bits: what a model that knows only those frequencies scores. */
    static double unigramBitsPerByte(Path file) throws IOException {
        long[] counts = new long[256];
        long n = 0;
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int k; (k = in.read(buf)) > 0; ) {
                for (int i = 0; i < k; i++) {
                    counts[buf[i] & 0xFF]++;
                }
                n += k;
            }
        }
        double h = 0;
        for (long c : counts) {
            if (c > 0) {
                double p = (double) c / n;
                h -= p * Math.log(p) / Math.log(2);
            }
        }
        return h;
    }
}
