package fulgur.cli;

import static fulgur.cli.CliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import fulgur.io.ModelDirectoryWriter;
import fulgur.tokenizer.TokenizerFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EvalCliTest {

    static Path trainText(Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path out = tmp.resolve("run");
        CliTest.Run t = run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "3",
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
                out.toString());
        assertThat(t.code()).as(t.err()).isZero();
        return out;
    }

    @Test
    void perplexityStreamsAFileAndReportsJson(@TempDir Path tmp) throws Exception {
        Path run = trainText(tmp);
        Path valid = tmp.resolve("valid.txt");
        Files.writeString(valid, "that is the question, to be or not to be.\n".repeat(30));
        CliTest.Run r = run(
                "eval",
                "perplexity",
                "--model-dir",
                run.toString(),
                "--data",
                valid.toString(),
                "--chunk",
                "16",
                "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode j = Json.mapper()
                .readTree(r.out()
                        .lines()
                        .filter(l -> l.startsWith("{"))
                        .findFirst()
                        .orElseThrow());
        long bytes = Files.size(valid);
        assertThat(j.get("tokens").asLong()).isEqualTo(bytes - 1);
        assertThat(j.get("bytes").asLong()).isEqualTo(bytes - 1);
        double loss = j.get("loss").asDouble();
        assertThat(j.get("perplexity").asDouble())
                .isCloseTo(Math.exp(loss), org.assertj.core.api.Assertions.within(1e-6 * Math.exp(loss)));
        assertThat(j.get("bits_per_byte").asDouble())
                .isCloseTo(loss / Math.log(2), org.assertj.core.api.Assertions.within(1e-9)); // one byte per token
        // the chunk size changes nothing but rounding
        CliTest.Run other = run(
                "eval",
                "perplexity",
                "--model-dir",
                run.toString(),
                "--data",
                valid.toString(),
                "--chunk",
                "100",
                "--json");
        JsonNode k = Json.mapper()
                .readTree(other.out()
                        .lines()
                        .filter(l -> l.startsWith("{"))
                        .findFirst()
                        .orElseThrow());
        assertThat(k.get("loss").asDouble()).isCloseTo(loss, org.assertj.core.api.Assertions.within(1e-4));
        CliTest.Run text = run("eval", "perplexity", "--model-dir", run.toString(), "--data", valid.toString());
        assertThat(text.out()).contains("perplexity").contains("bits per byte");
        assertThat(run(
                                "eval",
                                "perplexity",
                                "--model-dir",
                                run.toString(),
                                "--data",
                                tmp.resolve("none.txt").toString())
                        .err())
                .contains("--data: no such file");
    }

    @Test
    void choiceScoresTheExampleTasks(@TempDir Path tmp) throws Exception {
        Path run = trainText(tmp);
        Path tasks = Path.of(EvalCliTest.class.getResource("choice-tasks.jsonl").toURI());
        CliTest.Run r = run("eval", "choice", "--model-dir", run.toString(), "--data", tasks.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode j = Json.mapper()
                .readTree(r.out()
                        .lines()
                        .filter(l -> l.startsWith("{"))
                        .findFirst()
                        .orElseThrow());
        assertThat(j.get("tasks").asInt()).isEqualTo(4);
        // accuracies are multiples of 1/4
        assertThat(j.get("acc").asDouble() * 4)
                .isCloseTo(Math.rint(j.get("acc").asDouble() * 4), org.assertj.core.api.Assertions.within(1e-9));
        assertThat(j.get("acc_norm").asDouble()).isBetween(0.0, 1.0);
        Path bad = tmp.resolve("bad.jsonl");
        Files.writeString(bad, "{\"context\": \"a\", \"choices\": [\"b\", \"c\"], \"gold\": 5}\n");
        assertThat(run("eval", "choice", "--model-dir", run.toString(), "--data", bad.toString())
                        .err())
                .contains("bad.jsonl:1: \"gold\" must be the index of a choice");
    }

    @Test
    void mqarEvaluatesATrainedCheckpointWithItsTrainingSettings(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("mqar");
        CliTest.Run t = run(
                "train",
                "--task",
                "mqar",
                "--mqar-vocab",
                "16",
                "--mqar-pairs",
                "2",
                "--seq-len",
                "16",
                "--steps",
                "2",
                "--batch-size",
                "4",
                "--dim",
                "16",
                "--layers",
                "1",
                "--heads",
                "2",
                "--out",
                out.toString());
        assertThat(t.code()).as(t.err()).isZero();
        CliTest.Run r = run("eval", "mqar", "--model-dir", out.toString(), "--examples", "16", "--json");
        assertThat(r.code()).as(r.err()).isZero();
        JsonNode rows = Json.mapper()
                .readTree(r.out()
                        .lines()
                        .filter(l -> l.startsWith("["))
                        .findFirst()
                        .orElseThrow());
        assertThat(rows).hasSize(1);
        assertThat(rows.get(0).get("pairs").asInt()).isEqualTo(2);
        assertThat(rows.get(0).get("seq_len").asInt()).isEqualTo(16);
        assertThat(rows.get(0).get("vocab_size").asInt()).isEqualTo(16);
        CliTest.Run table = run(
                "eval",
                "mqar",
                "--model-dir",
                out.toString(),
                "--examples",
                "8",
                "--pairs",
                "2,3",
                "--seq-len",
                "16,32");
        assertThat(table.code()).as(table.err()).isZero();
        assertThat(table.out())
                .contains("| pairs | length 16 | length 32 |")
                .containsPattern("\\| 3 \\| [0-9.]+ % \\| [0-9.]+ % \\|");
    }

    @Test
    void needleWritesTheTableAndTheHeatmap(@TempDir Path tmp) throws Exception {
        Path run = trainText(tmp);
        Path png = tmp.resolve("img/needle.png");
        CliTest.Run r = run(
                "eval",
                "needle",
                "--model-dir",
                run.toString(),
                "--lengths",
                "200,400",
                "--depths",
                "0,0.5,1",
                "--trials",
                "1",
                "--out",
                png.toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("| depth | 200 | 400 |").contains("| 50 % |");
        var img = javax.imageio.ImageIO.read(png.toFile());
        assertThat(img.getWidth()).isGreaterThan(200);
        assertThat(run("eval", "needle", "--model-dir", run.toString(), "--lengths", "4Q")
                        .err())
                .contains("'4Q' is not a token count");
        assertThat(EvalNeedleCommand.parseLength("1M")).isEqualTo(1 << 20);
        assertThat(EvalNeedleCommand.parseLength("4K")).isEqualTo(4096);
    }

    @Test
    void checkpointsCarryTheTokenizerAndAMismatchIsRefused(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        // a BPE tokenizer.json with a tokenizer_config.json beside it
        Path tokDir = Files.createDirectories(tmp.resolve("tok"));
        Path tokJson = writeByteLevelBpe(tokDir.resolve("bpe.json"));
        Files.writeString(tokDir.resolve(TokenizerFiles.CONFIG), "{\"eos_token\": \"<|endoftext|>\"}");
        Path run = tmp.resolve("bpe");
        CliTest.Run t = run(
                "train",
                "--data",
                text.toString(),
                "--tokenizer",
                tokJson.toString(),
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
        assertThat(run.resolve("checkpoint").resolve(TokenizerFiles.JSON)).exists();
        assertThat(run.resolve("checkpoint").resolve(TokenizerFiles.CONFIG)).exists();
        // convert carries it; generate and train --init use it
        Path ref = tmp.resolve("ref");
        assertThat(run("convert", run.toString(), ref.toString()).code()).isZero();
        assertThat(ref.resolve(TokenizerFiles.JSON)).exists();
        assertThat(ref.resolve(TokenizerFiles.CONFIG)).exists();
        assertThat(ref.resolve(ModelDirectoryWriter.MARKER)).content().contains(TokenizerFiles.JSON);
        CliTest.Run g = run(
                "generate",
                "--model-dir",
                ref.toString(),
                "--prompt",
                "to be",
                "--max-tokens",
                "4",
                "--temperature",
                "0");
        assertThat(g.code()).as(g.err()).isZero();
        CliTest.Run ft = run(
                "train",
                "--data",
                text.toString(),
                "--init",
                ref.toString(),
                "--steps",
                "1",
                "--batch-size",
                "2",
                "--seq-len",
                "16",
                "--out",
                tmp.resolve("ft").toString());
        assertThat(ft.code()).as(ft.err()).isZero();
        assertThat(tmp.resolve("ft/checkpoint").resolve(TokenizerFiles.JSON)).exists();
        // a byte tokenizer for a 2000-token model is refused when training ...
        Path big = tmp.resolve("big");
        CliTest.Run b = run(
                "train",
                "--data",
                text.toString(),
                "--set",
                "vocab_size=2000",
                "--steps",
                "1",
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
                big.toString());
        assertThat(b.code()).isNotZero();
        assertThat(b.err()).contains("vocabulary has 2000 ids").contains("byte-level tokenizer");
        // ... and when a 2000-token model lost its tokenizer files, generate and train --init say so instead of reading
        // bytes
        CliTest.Run padded = run(
                "train",
                "--data",
                text.toString(),
                "--tokenizer",
                tokJson.toString(),
                "--set",
                "vocab_size=2000",
                "--steps",
                "1",
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
                big.toString());
        assertThat(padded.code()).as(padded.err()).isZero();
        for (String f : TokenizerFiles.NAMES) {
            Files.deleteIfExists(big.resolve("checkpoint").resolve(f));
        }
        CliTest.Run g2 = run("generate", "--model-dir", big.toString(), "--prompt", "x", "--max-tokens", "2");
        assertThat(g2.code()).isNotZero();
        assertThat(g2.err())
                .contains("vocabulary has 2000 ids but the byte-level tokenizer")
                .contains("has no tokenizer files")
                .doesNotContain("Exception");
        CliTest.Run init = run(
                "train",
                "--data",
                text.toString(),
                "--init",
                big.toString(),
                "--steps",
                "1",
                "--batch-size",
                "2",
                "--seq-len",
                "16",
                "--out",
                tmp.resolve("ft2").toString());
        assertThat(init.code()).isNotZero();
        assertThat(init.err()).contains("vocabulary has 2000 ids");
        // with the tokenizer named, it works again
        assertThat(run(
                                "generate",
                                "--model-dir",
                                big.toString(),
                                "--tokenizer",
                                tokJson.toString(),
                                "--prompt",
                                "x",
                                "--max-tokens",
                                "2")
                        .code())
                .isZero();
        // converted over the earlier conversion, the model without tokenizer files does not inherit the old model's
        assertThat(run("convert", big.toString(), ref.toString()).code()).isZero();
        assertThat(ref.resolve(TokenizerFiles.JSON)).doesNotExist();
        assertThat(ref.resolve(TokenizerFiles.CONFIG)).doesNotExist();
    }

    /** A byte-level BPE tokenizer.json (GPT-2's byte alphabet, no merges) with <|endoftext|> as id 256. */
    static Path writeByteLevelBpe(Path file) throws Exception {
        var root = Json.mapper().createObjectNode();
        var model = root.putObject("model");
        model.put("type", "BPE");
        var vocab = model.putObject("vocab");
        int extra = 0;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            vocab.put(String.valueOf((char) (printable ? b : 256 + extra++)), b);
        }
        model.putArray("merges");
        var pre = root.putObject("pre_tokenizer");
        pre.put("type", "ByteLevel");
        pre.put("add_prefix_space", false);
        root.putObject("decoder").put("type", "ByteLevel");
        var added = root.putArray("added_tokens").addObject();
        added.put("id", 256);
        added.put("content", "<|endoftext|>");
        added.put("special", true);
        Files.writeString(file, root.toString());
        return file;
    }

    @Test
    void demoOnTextShowsWritingBeforeAndAfter(@TempDir Path tmp) throws Exception {
        CliTest.Run r = run("demo", "--steps", "2", "--out", tmp.resolve("demo").toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out())
                .contains("before training it writes")
                .contains("after 2 steps")
                .contains("the training text reads")
                .contains("bits per character");
        Path own = tmp.resolve("own.txt");
        Files.writeString(own, "hello world, hello fulgur.\n".repeat(400));
        CliTest.Run d = run(
                "demo",
                "--data",
                own.toString(),
                "--steps",
                "2",
                "--out",
                tmp.resolve("own").toString());
        assertThat(d.code()).as(d.err()).isZero();
        assertThat(d.out()).contains("learns to write like " + own).contains("hello world");
        assertThat(run("demo", "--task", "copy").err()).contains("unknown --task 'copy'");
    }
}
