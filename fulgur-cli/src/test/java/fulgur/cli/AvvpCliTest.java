package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.avvp.Llp;
import fulgur.avvp.LlpWriter;
import fulgur.avvp.SyntheticAvvp;
import fulgur.io.Npy;
import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AvvpCliTest {
    private static final String[] SMALL_FEATURES = {
        "--set", "audio_dim=8", "--set", "visual_dim=12", "--set", "motion_dim=6"
    };

    private static CliTest.Run run(String... args) {
        return CliTest.run(args);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** An LLP directory of a small synthetic task with LLP's 25 classes and features of 8, 12 and 6 values. */
    private static Path llp(Path dir) throws Exception {
        SyntheticAvvp task =
                new SyntheticAvvp(new SyntheticAvvp.Settings(4, 25, 10, 8, 12, 6, 24, 8, 6, 0.5, 0.5, 1.0, 0.15, 0.05));
        LlpWriter.write(
                dir,
                task.split(SyntheticAvvp.Split.TRAIN),
                task.split(SyntheticAvvp.Split.VAL),
                task.split(SyntheticAvvp.Split.TEST),
                8);
        return dir;
    }

    private static void assertOneLineError(CliTest.Run r, String message) {
        assertThat(r.code()).as(r.out() + r.err()).isEqualTo(1);
        assertThat(r.err().strip()).isEqualTo(message);
    }

    @Test
    void trainsOnAnLlpDirectoryAndEvaluatesIt(@TempDir Path tmp) throws Exception {
        Path data = llp(tmp.resolve("llp"));
        Path out = tmp.resolve("run");
        CliTest.Run t = run(concat(
                new String[] {
                    "train",
                    "--model",
                    "leap",
                    "--data",
                    data.toString(),
                    "--steps",
                    "3",
                    "--batch-size",
                    "4",
                    "--dim",
                    "16",
                    "--layers",
                    "1",
                    "--heads",
                    "2",
                    "--eval-every",
                    "2",
                    "--out",
                    out.toString()
                },
                SMALL_FEATURES));
        assertThat(t.code()).as(t.err()).isZero();
        assertThat(t.out())
                .contains(
                        "data: LLP train at",
                        "24 videos, segment pseudo labels",
                        "evaluation on LLP val",
                        "model: LEAP, width 16",
                        "step 2  val: segment-level Type@AV",
                        "done: 3 steps",
                        "video labels everywhere");
        assertThat(out.resolve("checkpoint").resolve(Checkpoint.MODEL)).exists();
        assertThat(Files.readString(out.resolve("checkpoint").resolve(Checkpoint.CONFIG)))
                .contains("\"audio_dim\" : 8");
        assertThat(Files.readAllLines(out.resolve("metrics.jsonl")))
                .anyMatch(l -> l.contains("\"split\":\"val\"") && l.contains("segment_type_av_f1"));
        CliTest.Run e =
                run("eval", "avvp", "--model-dir", out.toString(), "--data", data.toString(), "--split", "test");
        assertThat(e.code()).as(e.err()).isZero();
        assertThat(e.out())
                .contains(
                        "data: LLP test at",
                        "segment-level",
                        "event-level",
                        "Type@AV",
                        "Event@AV",
                        "LEAP ",
                        "video labels everywhere");
        assertThat(e.out()
                        .lines()
                        .filter(l -> l.startsWith("LEAP "))
                        .findFirst()
                        .orElseThrow())
                .matches("LEAP\\s+6(\\s+\\d+\\.\\d){10}");
    }

    @Test
    void trainsOnTheSyntheticTaskResumesAndEvaluatesWithTheRunsSettings(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        String[] args = {
            "train",
            "--task",
            "avvp-synthetic",
            "--synthetic-videos",
            "16",
            "--steps",
            "2",
            "--batch-size",
            "4",
            "--dim",
            "8",
            "--layers",
            "1",
            "--heads",
            "2",
            "--eval-every",
            "0",
            "--out",
            out.toString()
        };
        CliTest.Run t = run(args);
        assertThat(t.code()).as(t.err()).isZero();
        assertThat(t.out()).contains("synthetic AVVP train (seed 7, 16 videos)", "done: 2 steps");
        args[6] = "4";
        CliTest.Run more = run(concat(args, "--resume"));
        assertThat(more.code()).as(more.err()).isZero();
        assertThat(more.out()).contains("resumed at step 2", "done: 4 steps");
        // a resumed run continues the checkpoint's settings and model, and its directory has one writer
        BadInputTest.fails(
                concat(args, "--resume", "--lr", "0.01"),
                "fulgur train: --resume: --lr 0.01 (checkpoint: 0.002) differ from the checkpoint's settings",
                "--allow-changes");
        args[10] = "16";
        BadInputTest.fails(
                concat(args, "--resume"), "--resume continues the model of", "hidden_size 16 (checkpoint: 8)");
        args[10] = "8";
        try (fulgur.io.DirectoryLock held = fulgur.io.DirectoryLock.acquire(out, "train", n -> {})) {
            BadInputTest.fails(concat(args, "--resume"), out + " is in use by another run in this process");
        }
        args[6] = "5";
        CliTest.Run changed = run(concat(args, "--resume", "--lr", "0.01", "--allow-changes"));
        assertThat(changed.code()).as(changed.err()).isZero();
        assertThat(changed.out())
                .contains("note: resuming with changed settings: lr 0.01 (checkpoint: 0.002)", "done: 5 steps");
        CliTest.Run e = run(
                "eval",
                "avvp",
                "--model-dir",
                out.toString(),
                "--task",
                "avvp-synthetic",
                "--split",
                "val",
                "--batch-size",
                "100");
        assertThat(e.code()).as(e.err()).isZero();
        assertThat(e.out()).contains("synthetic AVVP val (seed 7, 200 videos)", "LEAP, overlapping events");
    }

    @Test
    void badInputIsOneClearLine(@TempDir Path tmp) throws Exception {
        Path data = llp(tmp.resolve("llp"));
        Path out = tmp.resolve("run");
        String[] train = concat(
                new String[] {
                    "train",
                    "--model",
                    "leap",
                    "--data",
                    data.toString(),
                    "--steps",
                    "1",
                    "--batch-size",
                    "2",
                    "--dim",
                    "8",
                    "--layers",
                    "1",
                    "--heads",
                    "2",
                    "--out",
                    out.toString()
                },
                SMALL_FEATURES);
        Path audio = data.resolve(Llp.AUDIO_DIR).resolve("synr0000003.npy");
        float[] good = Npy.read(audio).data();
        Npy.write(audio, new float[90], 10, 9);
        assertOneLineError(run(train), "fulgur train: " + audio + ": expected audio features [10, 8], got [10, 9]");
        float[] nan = good.clone();
        nan[13] = Float.NaN;
        Npy.write(audio, nan, 10, 8);
        assertOneLineError(run(train), "fulgur train: " + audio + ": NaN at [1, 5] (features must be finite)");
        Npy.write(audio, good, 10, 8);
        List<String> rows = Files.readAllLines(data.resolve(Llp.TRAIN_CSV));
        Files.writeString(data.resolve(Llp.TRAIN_CSV), String.join("\n", rows) + "\nsynr0000003_0_10\tSpeech,Guitar\n");
        assertOneLineError(
                run(train),
                "fulgur train: " + data.resolve(Llp.TRAIN_CSV) + ": line " + (rows.size() + 1)
                        + ": unknown event label 'Guitar' (known: " + String.join(", ", fulgur.avvp.AvvpClasses.LLP)
                        + ")");
        Files.writeString(data.resolve(Llp.TRAIN_CSV), String.join("\n", rows) + "\n");
        Path labels = tmp.resolve("glove.txt");
        Files.writeString(labels, "Speech 1 2\n");
        assertOneLineError(
                run(concat(train, "--label-embeddings", labels.toString())),
                "fulgur train: " + labels + ": no vector for class 'Car' (lines are 'label v1 v2 ...')");
        assertOneLineError(
                run("train", "--model", "leap", "--task", "mqar", "--steps", "1"),
                "fulgur train: LEAP trains on audio-visual data, not --task mqar: give --data LLP_DIR or --task avvp-synthetic");
        assertOneLineError(
                run("train", "--task", "avvp-synthetic", "--model", "tnl", "--steps", "1"),
                "fulgur train: --task avvp-synthetic trains an audio-visual video parsing model: use --model leap (or leave --model out)");
        assertOneLineError(
                run("train", "--task", "avvp-synthetic", "--seq-len", "64", "--steps", "1"),
                "fulgur train: --seq-len applies to language models, not to LEAP (audio-visual video parsing)");
        assertOneLineError(
                run("train", "--model", "leap", "--data", labels.toString(), "--steps", "1"),
                "fulgur train: LEAP trains on audio-visual data: give --data LLP_DIR (one directory in the LLP layout) or --task avvp-synthetic; "
                        + labels + " is not a directory");
        assertOneLineError(
                run("train", "--task", "avvp-synthetic", "--set", "avss_target=union", "--steps", "1"),
                "fulgur train: invalid LEAP config: avss_target 'union' is not supported (expected eiou or max_count)");
        assertOneLineError(
                run("eval", "avvp", "--model-dir", tmp.resolve("nowhere").toString(), "--task", "avvp-synthetic"),
                "fulgur avvp: no model at " + tmp.resolve("nowhere") + ": not a directory");
        assertOneLineError(
                run("eval", "avvp", "--model-dir", tmp.toString()),
                "fulgur avvp: give exactly one of --data LLP_DIR or --task avvp-synthetic");
        assertOneLineError(
                run("eval", "avvp", "--model-dir", tmp.toString(), "--task", "avvp-synthetic"),
                "fulgur avvp: no LEAP model at " + tmp
                        + " (expected config.json and model.safetensors there or under checkpoint/)");
        CliTest.Run noBenchmark = run("eval");
        assertThat(noBenchmark.code()).isNotZero();
        assertThat(noBenchmark.err()).contains("name a benchmark: perplexity, choice, mqar, needle, avvp");
    }
}
