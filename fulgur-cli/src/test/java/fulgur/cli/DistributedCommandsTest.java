package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tokenizer.TokenizerFiles;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `fulgur train --sp/--dp` on the local backend and `fulgur launch`, end to end through the command line. */
class DistributedCommandsTest {

    private record Out(int code, String out, String err) {}

    private static Out run(String... args) {
        PrintStream oldOut = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            var cl = Main.commandLine();
            cl.setErr(new PrintWriter(err, true, StandardCharsets.UTF_8));
            int code = cl.execute(args);
            return new Out(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
        }
    }

    @Test
    void trainWithSequenceAndDataParallelism(@TempDir Path dir) {
        Out o = run("train", "--task", "mqar", "--steps", "2", "--batch-size", "2", "--seq-len", "32", "--dim", "16", "--layers", "1", "--heads", "2",
                "--sp", "2", "--dp", "2", "--sp-algo", "lasp", "--eval-every", "0", "--out", dir.toString());
        assertThat(o.code()).as(o.err()).isZero();
        assertThat(o.out()).contains("4 ranks (local backend) = dp 2 × sp 2, sequence parallelism lasp; 16 tokens per rank", "done: 2 steps");
        assertThat(dir.resolve("checkpoint")).exists();
    }

    @Test
    void theCheckpointCarriesTheTokenizer(@TempDir Path dir) throws Exception {
        Path text = Files.writeString(dir.resolve("t.txt"), "to be or not to be, that is the question. ".repeat(100));
        Path tokDir = Files.createDirectories(dir.resolve("tok"));
        Path tokJson = EvalCliTest.writeByteLevelBpe(tokDir.resolve("bpe.json"));
        Files.writeString(tokDir.resolve(TokenizerFiles.CONFIG), "{\"eos_token\": \"<|endoftext|>\"}");
        Path out = dir.resolve("run");
        Out o = run("train", "--data", text.toString(), "--tokenizer", tokJson.toString(), "--steps", "1", "--batch-size", "2", "--seq-len", "16",
                "--dim", "16", "--layers", "1", "--heads", "2", "--dp", "2", "--eval-every", "0", "--out", out.toString());
        assertThat(o.code()).as(o.err()).isZero();
        // the checkpoint is a model directory of its own: its tokenizer goes with it
        assertThat(Files.readString(out.resolve("checkpoint").resolve(TokenizerFiles.JSON))).isEqualTo(Files.readString(tokJson));
        assertThat(out.resolve("checkpoint").resolve(TokenizerFiles.CONFIG)).exists();
    }

    @Test
    void settingsThatDoNotSplitAreExplained(@TempDir Path dir) {
        Out o = run("train", "--task", "mqar", "--steps", "1", "--batch-size", "2", "--seq-len", "32", "--dim", "16", "--layers", "1", "--heads", "2",
                "--sp", "3", "--out", dir.toString());
        assertThat(o.code()).isEqualTo(1);
        assertThat(o.err()).contains("a sequence of 32 tokens does not split evenly over 3 ranks");
        Out b = run("train", "--task", "mqar", "--steps", "1", "--sp", "2", "--backend", "gloo", "--out", dir.toString());
        assertThat(b.err()).contains("unknown --backend 'gloo' (expected local or nccl)");
    }

    @Test
    void launchStartsRanksWithTheirEnvironment() {
        Out o = run("launch", "--nproc-per-node", "2", "--", "sh", "-c", "echo rank $RANK of $WORLD_SIZE local $LOCAL_RANK port $MASTER_PORT");
        assertThat(o.code()).isZero();
        assertThat(o.out()).contains("[rank 0] rank 0 of 2 local 0 port ", "[rank 1] rank 1 of 2 local 1 port ");
        Out f = run("launch", "--nproc-per-node", "2", "--", "sh", "-c", "exit $((3 + RANK))");
        assertThat(f.code()).isIn(3, 4);
    }
}
