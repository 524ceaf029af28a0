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
        Out o = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seq-len",
                "32",
                "--dim",
                "16",
                "--layers",
                "1",
                "--heads",
                "2",
                "--sp",
                "2",
                "--dp",
                "2",
                "--sp-algo",
                "lasp",
                "--eval-every",
                "0",
                "--out",
                dir.toString());
        assertThat(o.code()).as(o.err()).isZero();
        assertThat(o.out())
                .contains(
                        "4 ranks (local backend) = dp 2 × sp 2, sequence parallelism lasp; 16 tokens per rank",
                        "done: 2 steps");
        assertThat(dir.resolve("checkpoint")).exists();
    }

    @Test
    void theCheckpointCarriesTheTokenizer(@TempDir Path dir) throws Exception {
        Path text = Files.writeString(dir.resolve("t.txt"), "to be or not to be, that is the question. ".repeat(100));
        Path tokDir = Files.createDirectories(dir.resolve("tok"));
        Path tokJson = EvalCliTest.writeByteLevelBpe(tokDir.resolve("bpe.json"));
        Files.writeString(tokDir.resolve(TokenizerFiles.CONFIG), "{\"eos_token\": \"<|endoftext|>\"}");
        Path out = dir.resolve("run");
        Out o = run(
                "train",
                "--data",
                text.toString(),
                "--tokenizer",
                tokJson.toString(),
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
                "--dp",
                "2",
                "--eval-every",
                "0",
                "--out",
                out.toString());
        assertThat(o.code()).as(o.err()).isZero();
        // the checkpoint is a model directory of its own: its tokenizer goes with it
        assertThat(Files.readString(out.resolve("checkpoint").resolve(TokenizerFiles.JSON)))
                .isEqualTo(Files.readString(tokJson));
        assertThat(out.resolve("checkpoint").resolve(TokenizerFiles.CONFIG)).exists();
    }

    @Test
    void settingsThatDoNotSplitAreExplained(@TempDir Path dir) {
        Out o = run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "1",
                "--batch-size",
                "2",
                "--seq-len",
                "32",
                "--dim",
                "16",
                "--layers",
                "1",
                "--heads",
                "2",
                "--sp",
                "3",
                "--out",
                dir.toString());
        assertThat(o.code()).isEqualTo(1);
        assertThat(o.err()).contains("a sequence of 32 tokens does not split evenly over 3 ranks");
        Out b = run(
                "train", "--task", "mqar", "--steps", "1", "--sp", "2", "--backend", "gloo", "--out", dir.toString());
        assertThat(b.err()).contains("unknown --backend 'gloo' (expected local or nccl)");
    }

    private static final String[] SMALL = {
        "train",
        "--task",
        "mqar",
        "--seq-len",
        "32",
        "--dim",
        "16",
        "--layers",
        "1",
        "--heads",
        "2",
        "--eval-every",
        "0"
    };

    private static Out train(Path dir, String... more) {
        if (!java.util.Arrays.asList(more).contains("--batch-size")) {
            String[] withBatch = java.util.Arrays.copyOf(more, more.length + 2);
            withBatch[more.length] = "--batch-size";
            withBatch[more.length + 1] = "4";
            more = withBatch;
        }
        String[] args = java.util.Arrays.copyOf(SMALL, SMALL.length + more.length + 2);
        System.arraycopy(more, 0, args, SMALL.length, more.length);
        args[args.length - 2] = "--out";
        args[args.length - 1] = dir.toString();
        return run(args);
    }

    @Test
    void trainWithShardedOptimizerInBf16AndResumeUnsharded(@TempDir Path dir) {
        Out o = train(dir, "--steps", "2", "--dp", "2", "--zero", "2", "--precision", "bf16");
        assertThat(o.code()).as(o.err()).isZero();
        assertThat(o.out())
                .contains(
                        "2 ranks (local backend) = dp 2 × sp 1",
                        "ZeRO stage 2",
                        "bf16 compute, f32 masters",
                        "done: 2 steps");
        Out r = train(dir, "--steps", "3", "--dp", "2", "--resume");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("done: 3 steps");
    }

    @Test
    void trainWithCo2AndRefuseAResumeOverOtherReplicas(@TempDir Path dir) {
        Out o = train(
                dir,
                "--steps",
                "3",
                "--dp",
                "2",
                "--dp-algo",
                "co2",
                "--co2-tau",
                "2",
                "--co2-outer-momentum",
                "0.5",
                "--co2-clip",
                "0.1",
                "--co2-penalty",
                "2",
                "--local-link-gbps",
                "100",
                "--local-link-latency-us",
                "20");
        assertThat(o.code()).as(o.err()).isZero();
        assertThat(o.out())
                .contains(
                        "simulated link of 100 Gbit/s, 20 µs latency",
                        "CO2 τ 2, outer lr 1, outer momentum 0.5, clip 0.1, penalty 2, staleness 1",
                        "done: 3 steps");
        assertThat(dir.resolve("checkpoint").resolve("co2.safetensors")).exists();
        Out r = train(dir, "--steps", "4", "--dp", "4", "--dp-algo", "co2", "--co2-tau", "2", "--resume");
        assertThat(r.code()).isEqualTo(1);
        assertThat(r.err().strip())
                .doesNotContain("\n")
                .endsWith(
                        "the checkpoint was written by CO2 training over 2 data-parallel replicas (one optimizer each); resume it with the same --dp, not 4");
        Out s = train(dir, "--steps", "4", "--dp", "2", "--resume");
        assertThat(s.err()).contains("resume it with --dp-algo co2 --dp 2");
    }

    @Test
    void expertParallelismAndItsRefusals(@TempDir Path dir) {
        Out o = train(dir, "--steps", "1", "--model", "minimax", "--dp", "1", "--ep", "2");
        assertThat(o.code()).as(o.err()).isZero();
        assertThat(o.out()).contains("2 ranks (local backend)", "experts split over 2 ranks", "done: 1 steps");
        Out bad = train(dir, "--steps", "1", "--model", "minimax", "--batch-size", "3", "--ep", "3");
        assertThat(bad.code()).isEqualTo(1);
        assertThat(bad.err().strip())
                .isEqualTo(
                        "fulgur train: --ep 3: 4 experts per layer do not split evenly over 3 ranks (choose an --ep that divides 4)");
        for (String[] args : new String[][] {
            {"--dp", "2", "--zero", "1", "--dp-algo", "co2"},
            {"--dp", "2", "--co2-tau", "4"},
            {"--dp", "2", "--zero", "3"},
            {"--dp", "2", "--ep", "2", "--zero", "1"},
            {"--dp", "2", "--backend", "nccl", "--local-link-gbps", "10"},
            {"--dp", "2", "--dp-algo", "co2", "--co2-penalty", "0.5"}
        }) {
            String[] all = java.util.Arrays.copyOf(args, args.length + 2);
            all[args.length] = "--steps";
            all[args.length + 1] = "1";
            Out e = train(dir, all);
            assertThat(e.code()).as(String.join(" ", args)).isEqualTo(1);
            assertThat(e.err().strip().lines().count()).as(e.err()).isEqualTo(1);
        }
    }

    @Test
    void launchStartsRanksWithTheirEnvironment() {
        Out o = run(
                "launch",
                "--nproc-per-node",
                "2",
                "--",
                "sh",
                "-c",
                "echo rank $RANK of $WORLD_SIZE local $LOCAL_RANK port $MASTER_PORT");
        assertThat(o.code()).isZero();
        assertThat(o.out()).contains("[rank 0] rank 0 of 2 local 0 port ", "[rank 1] rank 1 of 2 local 1 port ");
        Out f = run("launch", "--nproc-per-node", "2", "--", "sh", "-c", "exit $((3 + RANK))");
        assertThat(f.code()).isIn(3, 4);
    }
}
