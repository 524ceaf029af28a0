package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Llama, Linear-Llama, the MiniMax hybrid and LightNet train and generate through the unchanged CLI. */
class AttnModelsCliTest {

    @ParameterizedTest
    @ValueSource(strings = {"llama", "linear-llama", "minimax", "lightnet"})
    void trainsAndGenerates(String model, @TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(100));
        Path out = tmp.resolve("run");
        CliTest.Run t = CliTest.run(
                "train",
                "--model",
                model,
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
                "2",
                "--heads",
                "2",
                "--out",
                out.toString());
        assertThat(t.code()).as(t.err()).isZero();
        assertThat(out.resolve("checkpoint").resolve(Checkpoint.MODEL)).exists();
        assertThat(Files.readString(out.resolve("checkpoint").resolve("config.json")))
                .contains("\"model_type\" : \"" + model.replace('-', '_') + "\"");
        CliTest.Run g = CliTest.run(
                "generate", "--model-dir", out.toString(), "--prompt", "to be", "--max-tokens", "8", "--seed", "1");
        assertThat(g.code()).as(g.err()).isZero();
        assertThat(g.out()).startsWith("to be");
    }
}
