package fulgur.cli;

import fulgur.cli.report.RunReport;
import fulgur.data.Mqar;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.train.DataSources;
import fulgur.train.LrSchedule;
import fulgur.train.TrainConfig;
import fulgur.train.Trainer;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The MetaLA paper's MQAR comparison at small scale: every architecture at the same width and depth, trained on
 * multi-query associative recall with a growing number of key-value pairs; held-out recall accuracy per cell.
 */
@Command(
        name = "mqar-sweep",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = {
            "Train each model on MQAR at several numbers of key-value pairs and print recall accuracy as a table.",
            "Rows are appended to OUT/mqar.md as they finish (several processes may share one OUT, e.g. one per model).",
            "Example: fulgur mqar-sweep --models tnl,hgrn2,metala,lightnet,llama --pairs 4,8,16,32 --device cuda"
        })
public final class MqarSweepCommand implements Callable<Integer> {
    @Option(
            names = "--models",
            split = ",",
            defaultValue = "tnl,hgrn2,metala,lightnet,llama",
            description = "Architectures. Default: ${DEFAULT-VALUE}.")
    List<String> models;

    @Option(
            names = "--pairs",
            split = ",",
            defaultValue = "4,8,16,32",
            description = "Key-value pairs per sequence. Default: ${DEFAULT-VALUE}.")
    List<Integer> pairs;

    @Option(names = "--seq-len", defaultValue = "128", description = "Sequence length. Default: ${DEFAULT-VALUE}.")
    int seqLen;

    @Option(names = "--vocab", defaultValue = "256", description = "MQAR vocabulary. Default: ${DEFAULT-VALUE}.")
    int vocab;

    @Option(
            names = "--dim",
            defaultValue = "64",
            description = "Model width for every architecture. Default: ${DEFAULT-VALUE}.")
    int dim;

    @Option(names = "--layers", defaultValue = "2", description = "Layers. Default: ${DEFAULT-VALUE}.")
    int layers;

    @Option(
            names = "--heads",
            defaultValue = "2",
            description = "Heads (where the architecture has them). Default: ${DEFAULT-VALUE}.")
    int heads;

    @Option(
            names = "--steps",
            defaultValue = "1500",
            description = "Optimizer steps per cell. Default: ${DEFAULT-VALUE}.")
    long steps;

    @Option(names = "--batch-size", defaultValue = "64", description = "Sequences per step. Default: ${DEFAULT-VALUE}.")
    int batch;

    @Option(
            names = "--lr",
            split = ",",
            defaultValue = "3e-3",
            description =
                    "Peak learning rates (warmup 5%%, cosine); with several, every cell "
                            + "trains at each and best.md keeps the best accuracy, as the Zoology protocol does. Default: ${DEFAULT-VALUE}.")
    double[] lrs;

    @Option(
            names = "--cuda-graph",
            description = "Capture each run's training step as a CUDA graph (needs --device cuda).")
    boolean cudaGraph;

    @Option(names = "--seed", defaultValue = "1", description = "Seed. Default: ${DEFAULT-VALUE}.")
    long seed;

    @Option(names = "--device", defaultValue = "cpu", description = "cpu, cuda or cuda:N. Default: ${DEFAULT-VALUE}.")
    String device;

    @Option(
            names = "--out",
            defaultValue = "runs/mqar-sweep",
            description = "Output directory. Default: ${DEFAULT-VALUE}.")
    Path out;

    @Override
    public Integer call() throws Exception {
        Device dev = Device.parse(device);
        List<Architecture> archs = new ArrayList<>();
        for (String m : models) {
            archs.add(Architectures.byName(m.trim()));
        }
        for (int p : pairs) {
            if (p <= 0 || 4 * p > seqLen) {
                throw new IllegalArgumentException(
                        "--pairs " + p + " does not fit --seq-len " + seqLen + " (need 0 < pairs ≤ seq-len/4)");
            }
        }
        if (cudaGraph && dev.kind() != Device.Kind.CUDA) {
            throw new IllegalArgumentException("--cuda-graph needs --device cuda, got --device " + device);
        }
        for (double lr : lrs) {
            if (!(lr > 0) || Double.isInfinite(lr)) {
                throw new IllegalArgumentException("--lr values must be finite and > 0, got " + lr);
            }
        }
        Files.createDirectories(out);
        Path table = out.resolve("mqar.md");
        try {
            Files.writeString(
                    table,
                    String.format(
                            Locale.ROOT,
                            "MQAR recall accuracy (held-out), width %d, %d layers, %d heads, vocabulary %d, length %d, %d steps × %d sequences%n%n"
                                    + "| model | parameters | key-value pairs | lr | accuracy | val loss | train tokens/s |%n|---|---|---|---|---|---|---|%n",
                            dim,
                            layers,
                            heads,
                            vocab,
                            seqLen,
                            steps,
                            batch),
                    StandardOpenOption.CREATE_NEW);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            // another process of the same sweep wrote the header; rows are appended below it
        }
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        Map<String, double[]> best = new LinkedHashMap<>(); // model -> best accuracy per pair count (NaN: not run)
        for (Architecture a : archs) {
            double[] row = new double[pairs.size()];
            java.util.Arrays.fill(row, Double.NaN);
            best.put(a.name(), row);
            for (int pi = 0; pi < pairs.size(); pi++) {
                int p = pairs.get(pi);
                Mqar task = new Mqar(Mqar.Config.of(vocab, seqLen, p));
                for (double lr : lrs) {
                    TrainConfig cfg = new TrainConfig(
                            steps,
                            batch,
                            seqLen,
                            1,
                            lr,
                            Math.max(1, steps / 20),
                            LrSchedule.Kind.COSINE,
                            0.1,
                            0.1,
                            0.9,
                            0.95,
                            1e-8,
                            1.0,
                            0,
                            0,
                            seed);
                    String json = a.smallConfig(vocab, dim, layers, heads);
                    try (Scope s = Scope.open("mqar-sweep");
                            LanguageModel model = a.build(json, seed)) {
                        if (dev.kind() != Device.Kind.CPU) {
                            model.module().to(dev);
                        }
                        var held = task.batch(seed + 1_000_003, 0, 256);
                        Path runDir = out.resolve(a.name() + "-" + p + (lrs.length > 1 ? "-lr" + lr : ""));
                        Trainer.Result r;
                        try (RunReport report = new RunReport(quiet, "fulgur training loss")) {
                            r = new Trainer(
                                            model,
                                            cfg,
                                            DataSources.mqar(task, seed, batch),
                                            DataOptions.mqarEvaluator(held, vocab),
                                            runDir,
                                            quiet)
                                    .listener(report)
                                    .cudaGraph(cudaGraph)
                                    .run(false);
                        }
                        double acc = r.lastEval().get("accuracy");
                        row[pi] = Double.isNaN(row[pi]) ? acc : Math.max(row[pi], acc);
                        String line = String.format(
                                Locale.ROOT,
                                "| %s | %,d | %d | %.0e | %.3f | %.3f | %,.0f |%n",
                                a.name(),
                                model.parameterCount(),
                                p,
                                lr,
                                acc,
                                r.lastEval().get("loss"),
                                r.tokensPerSecond());
                        System.out.print(line);
                        System.out.flush();
                        Files.writeString(table, line, StandardOpenOption.APPEND);
                    }
                }
            }
        }
        StringBuilder pivot = new StringBuilder(
                "Best held-out MQAR accuracy over lr " + java.util.Arrays.toString(lrs) + "\n\n| model |");
        for (int p : pairs) {
            pivot.append(' ').append(p).append(" pairs |");
        }
        pivot.append("\n|---|").append("---|".repeat(pairs.size())).append('\n');
        best.forEach((m, accs) -> {
            pivot.append("| ").append(m).append(" |");
            for (double acc : accs) {
                pivot.append(String.format(Locale.ROOT, " %.3f |", acc));
            }
            pivot.append('\n');
        });
        Files.writeString(out.resolve("best.md"), pivot);
        System.out.print(pivot);
        System.out.println("table: " + table.toAbsolutePath());
        return 0;
    }
}
