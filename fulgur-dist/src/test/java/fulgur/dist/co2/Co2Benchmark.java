package fulgur.dist.co2;

import fulgur.data.Batch;
import fulgur.data.PackedSequenceSampler;
import fulgur.data.TextCorpus;
import fulgur.dist.local.Link;
import fulgur.dist.local.LocalWorld;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.dist.train.DistributedTrainer;
import fulgur.dist.train.GlobalBatches;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import fulgur.train.DataSources;
import fulgur.train.Evaluator;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import fulgur.train.TrainingListener;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * CO2 against synchronous data parallelism on the local backend (ranks as threads of this JVM), a character-level
 * TNL on a text file, after one discarded warm-up run:
 * <ul>
 *   <li>{@code quality}: the same number of tokens with synchronous AdamW and with CO2 at τ 4 and 12; the held-out loss
 *       at the end (CO2's: the model the replicas agree on, every finished round applied);</li>
 *   <li>{@code speed}: the step time when the local backend's link is slowed to each bandwidth, synchronous and CO2 in
 *       alternating order, one table per round: the synchronous step waits for its gradient all-reduce, CO2's
 *       parameter averaging travels behind τ steps of computation.</li>
 * </ul>
 *
 * <pre>java --add-modules jdk.incubator.vector -cp fulgur.jar:fulgur-dist-tests.jar fulgur.dist.co2.Co2Benchmark --data FILE
 *     [--part quality,speed] [--runs sync,1/0/0,4/0/0.2,4/1/0.2,4/1/0,12/1/0.2,12/1/0] [--ranks 4] [--dim 64] [--layers 2]
 *     [--heads 4] [--seq-len 128] [--batch 16] [--steps 360] [--lr 3e-3] [--seed 1] [--gbps 0,0.05,0.02,0.01] [--latency-us 50]
 *     [--rounds 4] [--speed-steps 36]</pre>
 * {@code --runs}: the quality runs, {@code sync} or τ/staleness/outer momentum (outer lr 1, no clipping, no penalty).
 */
public final class Co2Benchmark {
    private Co2Benchmark() {}

    private record Settings(
            int ranks, int dim, int layers, int heads, int seqLen, int batch, int steps, double lr, long seed) {}

    public static void main(String[] args) throws Exception {
        try {
            bench(args);
        } catch (IllegalArgumentException e) {
            System.err.println("Co2Benchmark: " + e.getMessage());
            System.exit(2);
        }
    }

    private static void bench(String[] args) throws Exception {
        Path data = null;
        List<String> parts = List.of("quality", "speed");
        List<String> runs = List.of("sync", "1/0/0", "4/0/0.2", "4/1/0.2", "4/1/0", "12/1/0.2", "12/1/0");
        int ranks = 4,
                dim = 64,
                layers = 2,
                heads = 4,
                seqLen = 128,
                batch = 16,
                steps = 360,
                rounds = 4,
                speedSteps = 36;
        double lr = 3e-3, latencyUs = 50;
        long seed = 1;
        double[] gbps = {0, 0.05, 0.02, 0.01};
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException(args[i] + " needs a value");
            }
            String v = args[i + 1];
            try {
                switch (args[i]) {
                    case "--data" -> data = Path.of(v);
                    case "--part" -> parts = List.of(v.split(","));
                    case "--runs" -> runs = List.of(v.split(","));
                    case "--ranks" -> ranks = Integer.parseInt(v);
                    case "--dim" -> dim = Integer.parseInt(v);
                    case "--layers" -> layers = Integer.parseInt(v);
                    case "--heads" -> heads = Integer.parseInt(v);
                    case "--seq-len" -> seqLen = Integer.parseInt(v);
                    case "--batch" -> batch = Integer.parseInt(v);
                    case "--steps" -> steps = Integer.parseInt(v);
                    case "--lr" -> lr = Double.parseDouble(v);
                    case "--seed" -> seed = Long.parseLong(v);
                    case "--gbps" ->
                        gbps = Arrays.stream(v.split(","))
                                .mapToDouble(Double::parseDouble)
                                .toArray();
                    case "--latency-us" -> latencyUs = Double.parseDouble(v);
                    case "--rounds" -> rounds = Integer.parseInt(v);
                    case "--speed-steps" -> speedSteps = Integer.parseInt(v);
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(args[i] + ": not a number: '" + v + "'");
            }
        }
        if (data == null || !Files.isRegularFile(data)) {
            throw new IllegalArgumentException("--data FILE: a text file to train on");
        }
        for (String r : runs) {
            if (!r.equals("sync") && !r.matches("[1-9][0-9]*/[01]/[0-9.]+")) {
                throw new IllegalArgumentException(
                        "--runs: '" + r + "' is neither sync nor τ/staleness/outer momentum (e.g. 12/1/0.2)");
            }
        }
        if (steps < 1 || speedSteps <= 12 || rounds < 1 || ranks < 2 || batch % ranks != 0) {
            throw new IllegalArgumentException(
                    "--steps and --rounds must be >= 1, --speed-steps > 12 (the first 12 are not timed), --ranks >= 2 dividing --batch");
        }
        Tokenizer tok = ByteTokenizer.withEndOfText();
        TextCorpus corpus = TextCorpus.load(
                List.of(data), tok, TextCorpus.Options.defaults().withValidationFraction(0.1));
        Settings s = new Settings(ranks, dim, layers, heads, seqLen, batch, steps, lr, seed);
        TnlConfig cfg = TnlConfig.small(tok.vocabSize(), dim, layers, heads);
        try (TnlModel probe = new TnlModel(cfg, seed)) {
            System.out.printf(
                    Locale.ROOT,
                    "TNL d=%d, %d layers, %d heads, %,d parameters; %s: %,d train / %,d validation tokens; %d ranks (local backend),"
                            + " global batch %d × %d; %d CPU threads%n",
                    dim,
                    layers,
                    heads,
                    probe.parameterCount(),
                    data.getFileName(),
                    corpus.train().size(),
                    corpus.validation().size(),
                    ranks,
                    batch,
                    seqLen,
                    fulgur.backend.cpu.Parallel.threads());
        }
        run(s, cfg, corpus, null, Link.NONE, 13, null); // warm-up (JIT), discarded
        if (parts.contains("quality")) {
            List<Batch> val = new ArrayList<>();
            PackedSequenceSampler vs = PackedSequenceSampler.sequential(corpus.validation(), batch, seqLen);
            for (int i = 0; i < 16 && vs.hasNext(); i++) {
                val.add(vs.next());
            }
            Evaluator eval = Trainer.lossOn(val);
            System.out.printf(
                    Locale.ROOT,
                    "%n%d steps (%,d tokens), AdamW lr %s cosine, warmup %d; CO2 outer lr 1, no clipping, no penalty%n",
                    steps,
                    (long) steps * batch * seqLen,
                    lr,
                    steps / 15);
            System.out.println("| update | validation loss | last train loss | wall time (s) |");
            System.out.println("|---|---:|---:|---:|");
            for (String spec : runs) {
                Co2Config c = null;
                String label = "synchronous";
                if (!spec.equals("sync")) {
                    String[] f = spec.split("/");
                    c = new Co2Config(
                            Integer.parseInt(f[0]), 1, Double.parseDouble(f[2]), 0, 1, Integer.parseInt(f[1]));
                    label = String.format(
                            Locale.ROOT, "CO2 τ %d, staleness %d, outer momentum %s", c.tau(), c.staleness(), f[2]);
                }
                Run r = run(s, cfg, corpus, c, Link.NONE, steps, eval);
                System.out.printf(
                        Locale.ROOT, "| %s | %.4f | %.4f | %.1f |%n", label, r.valLoss, r.lastLoss, r.seconds);
            }
        }
        if (parts.contains("speed")) {
            Co2Config c = new Co2Config(12, 1, 0.2, 0, 1, 1);
            System.out.printf(
                    Locale.ROOT,
                    "%nStep time, median of steps 13–%d; link latency %.0f µs; CO2 τ 12%n",
                    speedSteps,
                    latencyUs);
            for (int round = 1; round <= rounds; round++) {
                System.out.printf("%nRound %d (%s first)%n", round, round % 2 == 1 ? "synchronous" : "CO2");
                System.out.println("| link | synchronous (ms) | CO2 (ms) | CO2 / synchronous |");
                System.out.println("|---|---:|---:|---:|");
                for (double g : gbps) {
                    Link link = Link.of(g, latencyUs);
                    double sync = 0, co2 = 0;
                    for (int k = 0; k < 2; k++) {
                        boolean syncNow = (k == 0) == (round % 2 == 1);
                        double ms = run(s, cfg, corpus, syncNow ? null : c, link, speedSteps, null).medianMs;
                        if (syncNow) {
                            sync = ms;
                        } else {
                            co2 = ms;
                        }
                    }
                    System.out.printf(
                            Locale.ROOT,
                            "| %s | %.1f | %.1f | %.2f |%n",
                            g == 0 ? "unlimited" : String.format(Locale.ROOT, "%.3g Gbit/s", g),
                            sync,
                            co2,
                            co2 / sync);
                }
            }
        }
    }

    private record Run(double valLoss, double lastLoss, double seconds, double medianMs) {}

    private static Run run(
            Settings s, TnlConfig cfg, TextCorpus corpus, Co2Config co2, Link link, int steps, Evaluator eval)
            throws Exception {
        TrainConfig tc = new TrainConfig(
                steps,
                s.batch(),
                s.seqLen(),
                1,
                s.lr(),
                Math.max(1, steps / 15),
                LrSchedule.Kind.COSINE,
                0.1,
                0.1,
                0.9,
                0.95,
                1e-8,
                1.0,
                0,
                0,
                s.seed());
        List<Double> stepMs = new java.util.concurrent.CopyOnWriteArrayList<>();
        double[] last = {Double.NaN, Double.NaN};
        TrainingListener listener = new TrainingListener() {
            @Override
            public void stepDone(Step step) {
                stepMs.add(step.stepSeconds() * 1e3);
                last[0] = step.loss();
            }

            @Override
            public void evalDone(Eval e) {
                last[1] = e.metrics().get("loss");
            }
        };
        Path out = Files.createTempDirectory("co2-bench");
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        GlobalBatches.Shared shared = new GlobalBatches.Shared(
                DataSources.packed(corpus.train(), s.batch(), s.seqLen(), s.seed()), s.ranks());
        long t0 = System.nanoTime();
        try (LocalWorld world = new LocalWorld(s.ranks(), Duration.ofMinutes(10), link)) {
            world.runAll(pg -> {
                try (TnlModel m = new TnlModel(cfg, s.seed())) {
                    DistributedTrainer t = new DistributedTrainer(
                                    pg,
                                    s.ranks(),
                                    1,
                                    SpAlgorithm.LASP2,
                                    m,
                                    tc,
                                    shared.forRank(pg.rank()),
                                    pg.rank() == 0 ? eval : null,
                                    out,
                                    quiet,
                                    1 << 22)
                            .co2(co2);
                    return (pg.rank() == 0 ? t.listener(listener) : t).run(false);
                }
            });
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        try (var files = Files.walk(out)) {
            for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        double[] measured = stepMs.subList(Math.min(12, stepMs.size() - 1), stepMs.size()).stream()
                .mapToDouble(Double::doubleValue)
                .sorted()
                .toArray();
        return new Run(last[1], last[0], seconds, measured[measured.length / 2]);
    }
}
