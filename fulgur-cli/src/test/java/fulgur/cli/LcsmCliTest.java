package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `fulgur train --model lcsm` (with --set picking an EOS instance) and `fulgur generate` through its recurrent cache. */
class LcsmCliTest {

    @Test
    void trainsAnLcsmInstanceThenGenerates(@TempDir Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        Path out = tmp.resolve("run");
        CliTest.Run t = CliTest.run(
                "train",
                "--model",
                "lcsm",
                "--set",
                "c_type=1",
                "--set",
                "e_type=1",
                "--set",
                "s_type=1",
                "--set",
                "o_type=2",
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
                "--out",
                out.toString());
        assertThat(t.code()).as(t.err()).isZero();
        String config = Files.readString(out.resolve("checkpoint").resolve("config.json"));
        assertThat(config).contains("\"model_type\" : \"lcsm\"").contains("\"o_type\" : 2");
        CliTest.Run g = CliTest.run(
                "generate", "--model-dir", out.toString(), "--prompt", "to be", "--max-tokens", "8", "--seed", "1");
        assertThat(g.code()).as(g.err()).isZero();
        assertThat(g.out()).startsWith("to be");
    }
}
