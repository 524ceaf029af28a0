package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.io.DirectoryLock;
import fulgur.io.ModelDirectoryWriter;
import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a command writes, and what it never touches: another run's directory, a convert's input, a checkpoint's settings. */
class OutputSafetyTest {

    @TempDir
    static Path shared;

    static Path text;

    /** A small trained run: 4 steps on a repeated sentence. */
    static Path train(Path out, String... extra) {
        List<String> a = new java.util.ArrayList<>(List.of(
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
                "--out",
                out.toString()));
        a.addAll(List.of(extra));
        CliTest.Run r = CliTest.run(a.toArray(String[]::new));
        assertThat(r.code()).as(r.err()).isZero();
        return out;
    }

    @BeforeAll
    static void corpus() throws Exception {
        text = Files.writeString(shared.resolve("t.txt"), "to be or not to be, that is the question. ".repeat(200));
    }

    @Test
    void convertNeverWritesIntoItsInputOrOverAnotherDirectory(@TempDir Path tmp) throws Exception {
        Path parent = tmp.resolve("runs");
        Path run = train(parent.resolve("a"));
        Files.writeString(parent.resolve("notes.txt"), "mine");
        Path file = Files.writeString(tmp.resolve("file"), "mine too");
        BadInputTest.fails(
                BadInputTest.args("convert", run.toString(), parent.toString()),
                "OUT " + parent + " contains IN " + run);
        BadInputTest.fails(
                BadInputTest.args("convert", run.toString(), file.toString()),
                "OUT " + file + " is a file, not a directory");
        BadInputTest.fails(
                BadInputTest.args(
                        "convert", run.toString(), run.resolve("checkpoint").toString()),
                "the training checkpoint being read");
        BadInputTest.fails(
                BadInputTest.args(
                        "convert",
                        run.resolve("checkpoint").toString(),
                        run.resolve("checkpoint").resolve("hf").toString()),
                "the training checkpoint being read");
        Path theirs = Files.createDirectories(tmp.resolve("hf"));
        Files.writeString(theirs.resolve("README.md"), "keep");
        BadInputTest.fails(
                BadInputTest.args("convert", run.toString(), theirs.toString()),
                "holds 1 file(s) fulgur did not write (e.g. README.md)",
                "pass --overwrite");
        // nothing was touched
        assertThat(Files.readString(parent.resolve("notes.txt"))).isEqualTo("mine");
        assertThat(Files.readString(file)).isEqualTo("mine too");
        assertThat(run.resolve("checkpoint").resolve(Checkpoint.OPTIMIZER)).exists();
        assertThat(run.resolve("metrics.jsonl")).exists();
        try (var files = Files.list(theirs)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("README.md");
        }
        // with --overwrite the model files go in and the rest stays; a directory convert wrote is simply replaced
        assertThat(CliTest.run("convert", run.toString(), theirs.toString(), "--overwrite")
                        .code())
                .isZero();
        assertThat(theirs.resolve("README.md")).hasContent("keep");
        assertThat(theirs.resolve("model.safetensors")).exists();
        assertThat(theirs.resolve(ModelDirectoryWriter.MARKER)).exists();
        CliTest.Run again = CliTest.run("convert", run.toString(), theirs.toString(), "--to", "fulgur");
        assertThat(again.code()).as(again.err()).isZero();
        assertThat(theirs.resolve("README.md")).hasContent("keep");
    }

    @Test
    void aSecondRunOnTheSameOutputIsRefusedBeforeWritingAnything(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        try (DirectoryLock held = DirectoryLock.acquire(out, "train", n -> {})) {
            BadInputTest.fails(
                    BadInputTest.args("train", "--data", text.toString(), "--steps", "2", "--out", out.toString()),
                    out + " is in use by another run in this process",
                    "choose another output directory");
            BadInputTest.fails(
                    BadInputTest.args("train", "--task", "mqar", "--steps", "2", "--sp", "2", "--out", out.toString()),
                    "is in use");
        }
        try (var files = Files.list(out)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly(DirectoryLock.FILE);
        }
    }

    @Test
    void resumeContinuesTheCheckpointsSettingsAndRefusesOthers(@TempDir Path tmp) throws Exception {
        Path out = train(tmp.resolve("run"), "--lr", "0.002", "--grad-clip", "0.5");
        String[] base = {"train", "--data", text.toString(), "--out", out.toString(), "--resume"};
        BadInputTest.fails(
                concat(base, "--steps", "6", "--lr", "0.01", "--seq-len", "32"),
                "--resume: --seq-len 32 (checkpoint: 16), --lr 0.01 (checkpoint: 0.002) differ from the checkpoint's settings",
                "--allow-changes");
        BadInputTest.fails(
                concat(base, "--steps", "6", "--dim", "32"),
                "--resume continues the model of",
                "decoder_embed_dim 32 (checkpoint: 16)");
        BadInputTest.fails(concat(base, "--steps", "6", "--init", out.toString()), "drop --init");
        BadInputTest.fails(concat(base, "--steps", "3"), "the checkpoint is at step 4 already");
        // nothing given: the checkpoint's settings (lr 0.002, clip 0.5, batch 2 × 16) carry on, with more steps
        CliTest.Run more = CliTest.run(concat(base, "--steps", "6", "--dim", "16", "--layers", "1", "--heads", "2"));
        assertThat(more.code()).as(more.err()).isZero();
        assertThat(more.out())
                .contains("note: the run now ends at step 6 instead of 4", "resumed from", "done: 6 steps");
        assertThat(Files.readString(out.resolve("checkpoint").resolve(Checkpoint.STATE)))
                .contains("\"lr\" : 0.002", "\"gradClip\" : 0.5", "\"seqLen\" : 16");
        CliTest.Run changed = CliTest.run(concat(base, "--steps", "7", "--lr", "0.001", "--allow-changes"));
        assertThat(changed.code()).as(changed.err()).isZero();
        assertThat(changed.out()).contains("note: resuming with changed settings: lr 0.001 (checkpoint: 0.002)");
    }

    @Test
    void aDistributedResumeChecksItsSettingsToo(@TempDir Path tmp) {
        Path out = tmp.resolve("dist");
        String[] run = {
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
            "--dp",
            "2",
            "--eval-every",
            "0",
            "--out",
            out.toString()
        };
        CliTest.Run first = CliTest.run(run);
        assertThat(first.code()).as(first.err()).isZero();
        BadInputTest.fails(
                new String[] {
                    "train",
                    "--task",
                    "mqar",
                    "--dp",
                    "2",
                    "--steps",
                    "3",
                    "--lr",
                    "0.1",
                    "--out",
                    out.toString(),
                    "--resume"
                },
                "--lr 0.1 (checkpoint: 0.003)");
        CliTest.Run more = CliTest.run(
                "train", "--task", "mqar", "--dp", "2", "--steps", "3", "--out", out.toString(), "--resume");
        assertThat(more.code()).as(more.err()).isZero();
        assertThat(more.out()).contains("resumed from", "done: 3 steps");
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
