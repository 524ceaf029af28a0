package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.io.safetensors.TensorIo;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad flags, values and files get one line naming what was wrong and a non-zero exit; nothing is accepted silently. */
class BadInputTest {

    /** Runs the command line; it must fail with one line on stderr that contains every fragment. */
    static CliTest.Run fails(String[] args, String... fragments) {
        CliTest.Run r = CliTest.run(args);
        assertThat(r.code()).as("exit code of %s", String.join(" ", args)).isNotZero();
        assertThat(r.err().strip().lines())
                .as("stderr of %s", String.join(" ", args))
                .hasSize(1);
        assertThat(r.err()).doesNotContain("Usage:").doesNotContain("\tat ");
        for (String f : fragments) {
            assertThat(r.err()).as("stderr of %s", String.join(" ", args)).contains(f);
        }
        return r;
    }

    static String[] args(String... a) {
        return a;
    }

    @Test
    void badValuesAreOneLineNotTheUsageText() {
        CliTest.Run r = fails(
                args("train", "--lr", "abc"),
                "fulgur train: Invalid value for option '--lr': 'abc' is not a double",
                "(see 'fulgur train --help')");
        assertThat(r.code()).isEqualTo(2);
        fails(args("train", "--lr", "nan"), "'nan' is not a double");
        fails(args("train", "--bogus"), "Unknown option: '--bogus'");
        fails(args("generate"), "Missing required option: '--model-dir=<dir>'");
    }

    @Test
    void settingsThatWereSilentlyAcceptedAreRefused(@TempDir Path tmp) throws Exception {
        String out = tmp.resolve("o").toString();
        fails(
                args("train", "--task", "mqar", "--grad-clip", "NaN", "--out", out),
                "gradient clip must be finite and >= 0",
                "NaN");
        fails(args("train", "--task", "mqar", "--eval-batches", "-1", "--out", out), "--eval-batches must be >= 0");
        fails(
                args("train", "--task", "mqar", "--sp", "0", "--out", out),
                "--sp and --dp must be >= 1 (got --sp 0, --dp 1)");
        fails(
                args("train", "--task", "mqar", "--dp", "-1", "--out", out),
                "--sp and --dp must be >= 1 (got --sp 1, --dp -1)");
        fails(
                args("train", "--task", "mqar", "--batch-size", "2000000000", "--out", out),
                "batch size × sequence length = 256000000000 tokens is more than one micro-batch can hold");
        fails(
                args("train", "--task", "mqar", "--val-fraction", "1.5", "--out", out),
                "--val-fraction must be in [0, 1)");
        fails(
                args("train", "--task", "mqar", "--time-limit", "-1", "--out", out),
                "--time-limit must be a positive number of minutes");
        fails(
                args("train", "--task", "mqar", "--allow-changes", "--out", out),
                "--allow-changes only applies with --resume");
        fails(
                args("train", "--data", tmp.resolve("missing.txt").toString(), "--out", out),
                "--data: no such file: " + tmp.resolve("missing.txt"));
        assertThat(Path.of(out))
                .as("refused options create no output directory")
                .doesNotExist();
        fails(
                args("train", "--task", "mqar", "--set", "typo=1", "--out", out),
                "--set typo: the TransNormerLLM config has no field 'typo'",
                "decoder_embed_dim");
        fails(args("train", "--data", tmp.toString(), "--out", out), "--data: " + tmp + " is a directory");
    }

    @Test
    void malformedConfigAndTokenizerFilesNameTheFileAndTheField(@TempDir Path tmp) throws Exception {
        Path cfg = tmp.resolve("config.json");
        Files.writeString(
                cfg,
                "{\"model_type\":\"transnormer\",\"vocab_size\":300,\"decoder_embed_dim\":32.5,\"decoder_layers\":1,"
                        + "\"decoder_attention_heads\":2,\"hidden_dim\":32,\"glu_dim\":64}");
        fails(
                args(
                        "train",
                        "--task",
                        "mqar",
                        "--config",
                        cfg.toString(),
                        "--out",
                        tmp.resolve("o").toString()),
                cfg.toString(),
                "field \"decoder_embed_dim\": Cannot coerce Floating-point value (32.5)");
        Path text = Files.writeString(tmp.resolve("t.txt"), "hello world ".repeat(100));
        ObjectNode tok = Json.mapper().createObjectNode();
        tok.putObject("model").put("type", "BPE").putArray("merges");
        ((ObjectNode) tok.get("model")).putObject("vocab").put("a", 0).put("b", 2_000_000_000);
        Path tokFile = Files.writeString(tmp.resolve("tokenizer.json"), tok.toString());
        fails(
                args(
                        "train",
                        "--data",
                        text.toString(),
                        "--tokenizer",
                        tokFile.toString(),
                        "--out",
                        tmp.resolve("o").toString()),
                tokFile + ": model.vocab: token \"b\" has id 2000000000, expected an integer in [0, 16777216)");
    }

    /** What {@code --help} prints, and what picocli reports on stderr while formatting it. */
    private static String[] help(String command) {
        picocli.CommandLine cl = Main.commandLine();
        java.io.StringWriter out = new java.io.StringWriter();
        cl.setOut(new java.io.PrintWriter(out));
        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            assertThat(cl.execute(command, "--help")).isZero();
        } finally {
            System.setErr(oldErr);
        }
        cl.getOut().flush();
        return new String[] {out.toString(), err.toString(StandardCharsets.UTF_8)};
    }

    @Test
    void helpShowsDefaultsAndFormatsCleanly() {
        String[] train = help("train");
        assertThat(train[0])
                .contains(
                        "Optimizer steps. Default: 1000.",
                        "Sequences per micro-batch. Default: 16.",
                        "Default: 128.",
                        "Peak learning rate. Default: 0.003.",
                        "Default: 100.");
        String[] sweep = help("mqar-sweep");
        assertThat(sweep[0]).contains("(warmup 5%, cosine)");
        assertThat(sweep[1]).doesNotContain("[picocli WARN]");
    }

    @Test
    void fileSystemErrorsSayWhatHappenedToWhichFile() {
        assertThat(Main.message(new AccessDeniedException("/runs/x/metrics.jsonl")))
                .isEqualTo("/runs/x/metrics.jsonl: permission denied");
        assertThat(Main.message(new java.io.UncheckedIOException(
                        "training output under /runs/x: /a", new FileAlreadyExistsException("/a"))))
                .isEqualTo("/a: already exists");
        assertThat(Main.message(new NoSuchFileException("/r/A.tmp", "/r/B", null)))
                .isEqualTo("/r/A.tmp -> /r/B: no such file or directory");
        assertThat(Main.message(new java.nio.file.FileSystemException("/r/x", null, "Read-only file system")))
                .isEqualTo("/r/x: file-system error (Read-only file system)");
        assertThat(Main.message(new IllegalStateException("two\n  lines"))).isEqualTo("two lines");
    }

    @Test
    void aCorruptTrainerStateNamesTheFile(@TempDir Path tmp) throws Exception {
        Path state = Files.createDirectories(tmp.resolve("checkpoint")).resolve(Checkpoint.STATE);
        Files.writeString(state, "{\"step\": ");
        fails(args("train", "--task", "mqar", "--resume", "--out", tmp.toString()), state.toString(), "invalid JSON");
        Files.writeString(state, "{\"step\": -3}");
        fails(
                args("train", "--task", "mqar", "--resume", "--out", tmp.toString()),
                state + ": \"step\" must be a non-negative integer, found -3");
    }

    /** A fulgur-layout model directory with TNL's small config and {@code edit} applied to its weights. */
    private static Path model(Path dir, java.util.function.Consumer<Map<String, Tensor>> edit) throws Exception {
        Files.createDirectories(dir);
        try (Scope s = Scope.open();
                TnlModel m = new TnlModel(TnlConfig.small(257, 16, 1, 2), 3)) {
            Map<String, Tensor> w = new LinkedHashMap<>();
            m.stateDict().forEach((k, v) -> w.put(k, v.copy()));
            edit.accept(w);
            TensorIo.save(dir.resolve(Checkpoint.MODEL), w, Map.of("format", "pt"));
            Files.writeString(dir.resolve(Checkpoint.CONFIG), m.configJson());
        }
        return dir;
    }

    @Test
    void nonFiniteOrIntegerWeightsAreRefusedOnLoad(@TempDir Path tmp) throws Exception {
        Path nan = model(tmp.resolve("nan"), w -> {
            Tensor e = w.get("model.embed_tokens.weight");
            w.put("model.embed_tokens.weight", e.mul(Double.NaN));
        });
        fails(
                args("generate", "--model-dir", nan.toString(), "--prompt", "hi"),
                "non-finite: 'model.embed_tokens.weight' has NaN at element 0");
        fails(
                args("serve", "--model-dir", nan.toString(), "--port", "0"),
                "fulgur serve: ",
                "non-finite: 'model.embed_tokens.weight' has NaN at element 0");
        fails(
                args(
                        "train",
                        "--task",
                        "mqar",
                        "--init",
                        nan.toString(),
                        "--out",
                        tmp.resolve("o").toString()),
                "non-finite");
        Path ints = model(
                tmp.resolve("ints"),
                w -> w.put(
                        "model.embed_tokens.weight",
                        w.get("model.embed_tokens.weight").to(DType.I32)));
        fails(
                args("generate", "--model-dir", ints.toString()),
                "wrong dtype: model.embed_tokens.weight is I32, expected a floating-point tensor");
    }

    @Test
    void generationThatOverflowsStopsWithTheErrorOnItsOwnLine(@TempDir Path tmp) throws Exception {
        Path huge = model(tmp.resolve("huge"), w -> w.replaceAll((k, v) -> Tensor.full(DType.F32, 1e38, v.shape())));
        CliTest.Run r = fails(
                args("generate", "--model-dir", huge.toString(), "--prompt", "ROMEO:"),
                "fulgur generate: after the prompt: the model's logits are not finite");
        assertThat(r.out())
                .isEqualTo("ROMEO:" + System.lineSeparator()); // the echoed prompt ends its line; no NUL bytes follow
    }
}
