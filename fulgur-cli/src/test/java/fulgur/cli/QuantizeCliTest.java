package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.io.safetensors.Safetensors;
import fulgur.io.safetensors.SafetensorsEntry;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code fulgur convert --quantize int8} writes int8 linear weights with per-channel scales that generate reads. */
class QuantizeCliTest {

    @Test
    void convertWritesInt8WeightsThatGenerateServes(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path run = tmp.resolve("run");
        CliTest.Run t = CliTest.run("train", "--data", text.toString(), "--steps", "2", "--batch-size", "2", "--seq-len", "16", "--dim", "32", "--layers", "1",
                "--heads", "2", "--out", run.toString());
        assertThat(t.code()).as(t.err()).isZero();
        Path q = tmp.resolve("int8");
        CliTest.Run c = CliTest.run("convert", run.toString(), q.toString(), "--to", "fulgur", "--quantize", "int8");
        assertThat(c.code()).as(c.err()).isZero();
        assertThat(c.out()).contains("int8 linear layers", "weights in memory:");
        try (Safetensors st = Safetensors.open(q)) {
            SafetensorsEntry w = st.find("model.layers.0.token_mixer.qkvu_proj.weight").orElseThrow();
            SafetensorsEntry s = st.find("model.layers.0.token_mixer.qkvu_proj.weight_scale").orElseThrow();
            assertThat(w.dtype()).isEqualTo("I8");
            assertThat(s.dtype()).isEqualTo("F32");
            assertThat(s.shape()).containsExactly(w.shape()[0]);
            assertThat(st.find("model.embed_tokens.weight").orElseThrow().dtype()).isEqualTo("F32");
        }
        CliTest.Run g = CliTest.run("generate", "--model-dir", q.toString(), "--prompt", "to be", "--max-tokens", "12", "--temperature", "0");
        assertThat(g.code()).as(g.err()).isZero();
        assertThat(g.out()).startsWith("to be");
        CliTest.Run bf16 = CliTest.run("convert", run.toString(), tmp.resolve("bf16").toString(), "--to", "reference", "--quantize", "int8", "--dtype", "bf16");
        assertThat(bf16.code()).as(bf16.err()).isZero();
        try (Safetensors st = Safetensors.open(tmp.resolve("bf16"))) {
            assertThat(st.find("model.layers.0.token_mixer.qkvu_proj.weight").orElseThrow().dtype()).isEqualTo("I8");
            assertThat(st.find("model.layers.0.token_mixer.qkvu_proj.weight_scale").orElseThrow().dtype()).as("scales stay f32").isEqualTo("F32");
            assertThat(st.find("model.embed_tokens.weight").orElseThrow().dtype()).isEqualTo("BF16");
        }
        CliTest.Run bad = CliTest.run("convert", run.toString(), tmp.resolve("x").toString(), "--quantize", "int4");
        assertThat(bad.code()).isNotZero();
        assertThat(bad.err()).contains("--quantize must be none or int8, got 'int4'");
    }
}
