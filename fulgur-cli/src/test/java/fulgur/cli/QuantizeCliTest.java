package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.io.ModelDirectoryWriter;
import fulgur.io.safetensors.Safetensors;
import fulgur.io.safetensors.SafetensorsEntry;
import fulgur.io.safetensors.TensorIo;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fulgur convert --quantize int8} writes int8 linear weights with per-channel scales that generate reads. */
class QuantizeCliTest {

    @Test
    void convertWritesInt8WeightsThatGenerateServes(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path run = tmp.resolve("run");
        CliTest.Run t = CliTest.run(
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
                "32",
                "--layers",
                "1",
                "--heads",
                "2",
                "--out",
                run.toString());
        assertThat(t.code()).as(t.err()).isZero();
        Path q = tmp.resolve("int8");
        CliTest.Run c = CliTest.run("convert", run.toString(), q.toString(), "--to", "fulgur", "--quantize", "int8");
        assertThat(c.code()).as(c.err()).isZero();
        assertThat(c.out()).contains("int8 linear layers", "weights in memory:");
        try (Safetensors st = Safetensors.open(q)) {
            SafetensorsEntry w =
                    st.find("model.layers.0.token_mixer.qkvu_proj.weight").orElseThrow();
            SafetensorsEntry s =
                    st.find("model.layers.0.token_mixer.qkvu_proj.weight_scale").orElseThrow();
            assertThat(w.dtype()).isEqualTo("I8");
            assertThat(s.dtype()).isEqualTo("F32");
            assertThat(s.shape()).containsExactly(w.shape()[0]);
            assertThat(st.find("model.embed_tokens.weight").orElseThrow().dtype())
                    .isEqualTo("F32");
        }
        CliTest.Run g = CliTest.run(
                "generate",
                "--model-dir",
                q.toString(),
                "--prompt",
                "to be",
                "--max-tokens",
                "12",
                "--temperature",
                "0");
        assertThat(g.code()).as(g.err()).isZero();
        assertThat(g.out()).startsWith("to be");
        CliTest.Run bf16 = CliTest.run(
                "convert",
                run.toString(),
                tmp.resolve("bf16").toString(),
                "--to",
                "reference",
                "--quantize",
                "int8",
                "--dtype",
                "bf16");
        assertThat(bf16.code()).as(bf16.err()).isZero();
        try (Safetensors st = Safetensors.open(tmp.resolve("bf16"))) {
            assertThat(st.find("model.layers.0.token_mixer.qkvu_proj.weight")
                            .orElseThrow()
                            .dtype())
                    .isEqualTo("I8");
            assertThat(st.find("model.layers.0.token_mixer.qkvu_proj.weight_scale")
                            .orElseThrow()
                            .dtype())
                    .as("scales stay f32")
                    .isEqualTo("F32");
            assertThat(st.find("model.embed_tokens.weight").orElseThrow().dtype())
                    .isEqualTo("BF16");
        }
        CliTest.Run bad =
                CliTest.run("convert", run.toString(), tmp.resolve("x").toString(), "--quantize", "int4");
        assertThat(bad.code()).isNotZero();
        assertThat(bad.err()).contains("--quantize must be none or int8, got 'int4'");
    }

    /**
     * Quantizing writes under the same rules as any conversion: a directory fulgur did not write is refused unless
     * --overwrite (which keeps its other files), never the training checkpoint being read; and int8 checkpoints are
     * checked on load like any other, their scales for non-finite values.
     */
    @Test
    void quantizingFollowsTheOutputRulesAndItsScalesAreChecked(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path run = tmp.resolve("run");
        CliTest.Run t = CliTest.run(
                "train",
                "--data",
                text.toString(),
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
                run.toString());
        assertThat(t.code()).as(t.err()).isZero();
        Path theirs = Files.createDirectories(tmp.resolve("theirs"));
        Files.writeString(theirs.resolve("README.md"), "keep");
        BadInputTest.fails(
                BadInputTest.args("convert", run.toString(), theirs.toString(), "--quantize", "int8"),
                "fulgur did not write (e.g. README.md)",
                "pass --overwrite");
        BadInputTest.fails(
                BadInputTest.args(
                        "convert",
                        run.toString(),
                        run.resolve("checkpoint").resolve("q").toString(),
                        "--quantize",
                        "int8"),
                "the training checkpoint being read");
        try (var files = Files.list(theirs)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("README.md");
        }
        CliTest.Run over = CliTest.run(
                "convert", run.toString(), theirs.toString(), "--to", "fulgur", "--quantize", "int8", "--overwrite");
        assertThat(over.code()).as(over.err()).isZero();
        assertThat(theirs.resolve("README.md")).hasContent("keep");
        assertThat(theirs.resolve(ModelDirectoryWriter.MARKER)).exists();
        CliTest.Run again =
                CliTest.run("convert", run.toString(), theirs.toString(), "--to", "fulgur", "--quantize", "int8");
        assertThat(again.code())
                .as("a directory a conversion wrote is replaced: " + again.err())
                .isZero();

        String scale = "model.layers.0.token_mixer.qkvu_proj.weight_scale";
        Path bad = Files.createDirectories(tmp.resolve("nan-scale"));
        try (Scope s = Scope.open()) {
            Map<String, Tensor> w = new LinkedHashMap<>(
                    TensorIo.load(theirs.resolve(Checkpoint.MODEL)).tensors());
            float[] v = w.get(scale).toFloatArray();
            v[3] = Float.NaN;
            w.put(scale, Tensor.of(v, v.length));
            TensorIo.save(bad.resolve(Checkpoint.MODEL), w, Map.of("format", "pt"));
        }
        Files.copy(theirs.resolve(Checkpoint.CONFIG), bad.resolve(Checkpoint.CONFIG));
        BadInputTest.fails(
                BadInputTest.args("generate", "--model-dir", bad.toString(), "--prompt", "to"),
                "non-finite: '" + scale + "' has NaN at element 3");
        BadInputTest.fails(
                BadInputTest.args("serve", "--model-dir", bad.toString(), "--port", "0"),
                "non-finite: '" + scale + "' has NaN at element 3");
    }
}
