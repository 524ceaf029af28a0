package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.train.Checkpoint;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class CliTest {

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        PrintStream oldOut = System.out;
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
        try {
            int code = cl.execute(args);
            cl.getOut().flush();
            cl.getErr().flush();
            return new Run(code, out + captured.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(oldOut);
        }
    }

    @Test
    void helpListsTheCommands() {
        assertThat(run("--help").code()).isZero();
        CommandLine cl = Main.commandLine();
        assertThat(cl.getUsageMessage()).contains("demo", "train", "generate", "bench");
        assertThat(cl.getSubcommands().get("train").getUsageMessage())
                .contains("--data", "--task", "--resume", "--lr", "--steps");
        assertThat(cl.getSubcommands().get("generate").getUsageMessage())
                .contains("--temperature", "--top-k", "--top-p", "--stop", "--seed");
    }

    @Test
    void versionIsTheBuildsVersion() {
        assertThat(Main.commandLine().getCommandSpec().version())
                .singleElement()
                .asString()
                .matches("fulgur \\d+\\.\\d+\\.\\d+(-SNAPSHOT)? on Java .+");
    }

    @Test
    void badInputGivesAClearErrorAndANonZeroExit() {
        Run unknown = run("train", "--bogus");
        assertThat(unknown.code()).isNotZero();
        assertThat(unknown.err()).contains("Unknown option: '--bogus'");
        Run noData = run("train", "--steps", "2");
        assertThat(noData.code()).isEqualTo(1);
        assertThat(noData.err()).contains("give exactly one of --data");
        Run missing = run("train", "--data", "/no/such/file.txt", "--steps", "2");
        assertThat(missing.err()).contains("no such file: /no/such/file.txt");
        Run badNumber = run("train", "--task", "mqar", "--steps", "zero");
        assertThat(badNumber.code()).isNotZero();
        assertThat(badNumber.err()).contains("--steps");
        Run badModel = run("generate", "--model-dir", "/no/such/run");
        assertThat(badModel.code()).isEqualTo(1);
        assertThat(badModel.err()).contains("no model at /no/such/run: not a directory");
        assertThat(run("bench", "nosuch").err()).contains("unknown benchmark 'nosuch'");
        Run badDevice = run("train", "--task", "mqar", "--steps", "2", "--device", "tpu");
        assertThat(badDevice.code()).isEqualTo(1);
        assertThat(badDevice.err()).contains("unknown device 'tpu' (expected cpu, cuda or cuda:N)");
    }

    @Test
    void malformedConfigIsReported(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("config.json");
        Files.writeString(cfg, "{\"vocab_size\": 300, \"decoder_embed_dim\": 30");
        Run r = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--config",
                cfg.toString(),
                "--out",
                tmp.resolve("o").toString());
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err()).contains(cfg.toString()).contains("malformed config.json");
        Files.writeString(cfg, "{\"model_type\": \"gpt2\", \"vocab_size\": 300}");
        Run unknownType = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--config",
                cfg.toString(),
                "--out",
                tmp.resolve("o").toString());
        assertThat(unknownType.err()).contains("model_type 'gpt2'").contains("transnormer");
        Files.writeString(
                cfg,
                "{\"model_type\": \"transnormer\", \"vocab_size\": 300, \"decoder_embed_dim\": 30, \"decoder_layers\": 1, "
                        + "\"decoder_attention_heads\": 4, \"hidden_dim\": 30, \"glu_dim\": 64}");
        Run badTnl = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--config",
                cfg.toString(),
                "--out",
                tmp.resolve("o").toString());
        assertThat(badTnl.err())
                .contains("TransNormerLLM config")
                .contains("hidden_dim 30 is not divisible by decoder_attention_heads 4");
        Run unknownModel = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--model",
                "gpt2",
                "--out",
                tmp.resolve("o").toString());
        assertThat(unknownModel.err()).contains("unknown model 'gpt2' (available: tnl");
        assertThat(run(
                                "train",
                                "--task",
                                "mqar",
                                "--steps",
                                "2",
                                "--precision",
                                "fp8",
                                "--out",
                                tmp.resolve("o").toString())
                        .err())
                .contains("--precision must be f32 or bf16, got 'fp8'");
        assertThat(run(
                                "train",
                                "--task",
                                "mqar",
                                "--steps",
                                "2",
                                "--cuda-graph",
                                "--out",
                                tmp.resolve("o").toString())
                        .err())
                .contains("--cuda-graph needs the model on a GPU (--device cuda), got --device cpu");
        Run badSet = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--set",
                "nonsense",
                "--out",
                tmp.resolve("o").toString());
        assertThat(badSet.err()).contains("--set expects FIELD=VALUE, got 'nonsense'");
    }

    @Test
    void trainsOnTextThenGeneratesAndResumes(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path out = tmp.resolve("run");
        Run t = run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "4",
                "--batch-size",
                "2",
                "--seq-len",
                "16",
                "--dim",
                "16",
                "--layers",
                "1",
                "--heads",
                "2",
                "--eval-every",
                "2",
                "--out",
                out.toString());
        assertThat(t.code()).as(t.err()).isZero();
        assertThat(out.resolve("checkpoint").resolve(Checkpoint.MODEL)).exists();
        assertThat(out.resolve("metrics.jsonl")).exists();
        assertThat(out.resolve("loss.png")).exists();
        Run more = run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "6",
                "--batch-size",
                "2",
                "--seq-len",
                "16",
                "--out",
                out.toString(),
                "--resume");
        assertThat(more.code()).as(more.err()).isZero();
        assertThat(more.out()).contains("resumed from").contains("done: 6 steps");
        Run g = run(
                "generate", "--model-dir", out.toString(), "--prompt", "to be", "--max-tokens", "10", "--seed", "1");
        assertThat(g.code()).as(g.err()).isZero();
        assertThat(g.out()).startsWith("to be");
    }

    @Test
    void convertsARunToReferenceShardsAndBackThenTrainsFromIt(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path run = tmp.resolve("run");
        Run t = run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seq-len",
                "16",
                "--dim",
                "16",
                "--layers",
                "1",
                "--heads",
                "2",
                "--out",
                run.toString());
        assertThat(t.code()).as(t.err()).isZero();
        Path ref = tmp.resolve("ref");
        Run c = run(
                "convert",
                run.toString(),
                ref.toString(),
                "--to",
                "reference",
                "--dtype",
                "f32",
                "--max-shard-size",
                "8KB");
        assertThat(c.code()).as(c.err()).isZero();
        assertThat(ref.resolve("model.safetensors.index.json")).exists();
        try (var files = Files.list(ref)) {
            assertThat(files.filter(f -> f.getFileName().toString().startsWith("model-00"))
                            .count())
                    .isGreaterThan(1);
        }
        Run g1 = run(
                "generate",
                "--model-dir",
                run.toString(),
                "--prompt",
                "to be",
                "--max-tokens",
                "12",
                "--temperature",
                "0");
        Run g2 = run(
                "generate",
                "--model-dir",
                ref.toString(),
                "--prompt",
                "to be",
                "--max-tokens",
                "12",
                "--temperature",
                "0");
        assertThat(g2.code()).as(g2.err()).isZero();
        assertThat(g2.out()).isEqualTo(g1.out()); // same weights, same greedy text
        Path back = tmp.resolve("back");
        Run c2 = run("convert", ref.toString(), back.toString(), "--to", "fulgur");
        assertThat(c2.code()).as(c2.err()).isZero();
        assertThat(back.resolve(Checkpoint.MODEL)).exists();
        Run ft = run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seq-len",
                "16",
                "--init",
                back.toString(),
                "--out",
                tmp.resolve("ft").toString(),
                "--precision",
                "bf16");
        assertThat(ft.code()).as(ft.err()).isZero();
        assertThat(ft.out()).contains("precision: bf16 compute, f32 master weights");
        assertThat(run("convert", ref.toString(), ref.toString()).err()).contains("IN and OUT are the same directory");
        assertThat(run("convert", ref.toString(), tmp.resolve("x").toString(), "--to", "onnx")
                        .err())
                .contains("--to must be 'reference' or 'fulgur', got 'onnx'");
        assertThat(run("convert", ref.toString(), tmp.resolve("x").toString(), "--max-shard-size", "0")
                        .err())
                .contains("--max-shard-size must be a positive size");
        assertThat(run("convert", text.toString(), tmp.resolve("x").toString()).err())
                .contains("not a directory");
        assertThat(run("convert", tmp.toString(), tmp.resolve("x").toString()).err())
                .contains("no config.json");
        assertThat(tmp.resolve("x")).doesNotExist();
    }

    @Test
    void mqarSweepTabulatesEveryModelAndPairCount(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("sweep");
        Run r = run(
                "mqar-sweep",
                "--models",
                "tnl,hgrn2",
                "--pairs",
                "2,3",
                "--seq-len",
                "16",
                "--vocab",
                "16",
                "--dim",
                "16",
                "--steps",
                "2",
                "--batch-size",
                "4",
                "--lr",
                "3e-3,1e-2",
                "--out",
                out.toString());
        assertThat(r.code()).as(r.err()).isZero();
        List<String> rows = Files.readAllLines(out.resolve("mqar.md")).stream()
                .filter(l -> l.matches("\\| (tnl|hgrn2) \\|.*"))
                .toList();
        assertThat(rows).hasSize(8);
        assertThat(rows).anyMatch(l -> l.contains("| 1e-02 |")).anyMatch(l -> l.contains("| 3e-03 |"));
        List<String> best = Files.readAllLines(out.resolve("best.md"));
        assertThat(best)
                .anyMatch(l -> l.startsWith("| tnl |") && l.split("\\|").length == 4)
                .anyMatch(l -> l.startsWith("| hgrn2 |"))
                .anyMatch(l -> l.contains("2 pairs") && l.contains("3 pairs"));
        // the best cell is the maximum of the rows of that model and pair count
        double tnl2 = rows.stream()
                .filter(l -> l.startsWith("| tnl |") && l.contains("| 2 |"))
                .mapToDouble(l -> Double.parseDouble(l.split("\\|")[5].trim()))
                .max()
                .orElseThrow();
        assertThat(best.stream()
                        .filter(l -> l.startsWith("| tnl |"))
                        .findFirst()
                        .orElseThrow())
                .contains(String.format(java.util.Locale.ROOT, "%.3f", tnl2));
        assertThat(run("mqar-sweep", "--cuda-graph", "--out", tmp.resolve("x").toString())
                        .err())
                .contains("--cuda-graph needs --device cuda");
        assertThat(run(
                                "mqar-sweep",
                                "--pairs",
                                "9",
                                "--seq-len",
                                "16",
                                "--out",
                                tmp.resolve("x").toString())
                        .err())
                .contains("--pairs 9 does not fit --seq-len 16");
        assertThat(run(
                                "mqar-sweep",
                                "--models",
                                "gpt2",
                                "--out",
                                tmp.resolve("x").toString())
                        .err())
                .contains("unknown model 'gpt2'");
    }

    @Test
    void demoRunsOnMqarAndReportsAccuracy(@TempDir Path tmp) {
        Run r = run(
                "demo",
                "--task",
                "mqar",
                "--steps",
                "3",
                "--out",
                tmp.resolve("demo").toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("recall accuracy on held-out sequences").contains("summary");
    }
}
