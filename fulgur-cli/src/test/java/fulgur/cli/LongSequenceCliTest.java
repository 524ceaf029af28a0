package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `train --seq-chunk` and `--checkpoint-activations` from the command line, alone, under sequence parallelism and CO2, and misused. */
class LongSequenceCliTest {

    static Path text(Path tmp) throws Exception {
        Path text = tmp.resolve("t.txt");
        Files.writeString(text, "to be or not to be, that is the question. ".repeat(200));
        return text;
    }

    @Test
    void trainsInChunksAndWithCheckpointing(@TempDir Path tmp) throws Exception {
        Path text = text(tmp);
        CliTest.Run chunked = CliTest.run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seq-len",
                "64",
                "--seq-chunk",
                "16",
                "--dim",
                "16",
                "--layers",
                "2",
                "--heads",
                "2",
                "--eval-batches",
                "1",
                "--out",
                tmp.resolve("chunked").toString());
        assertThat(chunked.code()).as(chunked.err()).isZero();
        assertThat(chunked.out())
                .contains("sequence chunks: 64 tokens per sequence in 4 chunks of 16", "done: 2 steps");
        CliTest.Run checkpointed = CliTest.run(
                "train",
                "--data",
                text.toString(),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seq-len",
                "32",
                "--checkpoint-activations",
                "--dim",
                "16",
                "--layers",
                "2",
                "--heads",
                "2",
                "--eval-batches",
                "1",
                "--out",
                tmp.resolve("ckpt").toString());
        assertThat(checkpointed.code()).as(checkpointed.err()).isZero();
        assertThat(checkpointed.out())
                .contains("activation checkpointing: each layer keeps only its input", "done: 2 steps");
    }

    @Test
    void sequenceParallelRanksWalkTheirSharesInChunks(@TempDir Path tmp) throws Exception {
        CliTest.Run r = CliTest.run(
                "train",
                "--data",
                text(tmp).toString(),
                "--steps",
                "2",
                "--batch-size",
                "2",
                "--seq-len",
                "48",
                "--sp",
                "2",
                "--seq-chunk",
                "8",
                "--dim",
                "16",
                "--layers",
                "2",
                "--heads",
                "2",
                "--eval-batches",
                "1",
                "--out",
                tmp.resolve("sp").toString());
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out())
                .contains(
                        "each rank walks its 24 tokens in chunks of 8 (3 rounds of 16 tokens over the group)",
                        "done: 2 steps");
    }

    /** CO2's replicas each walk their rows in chunks: the same losses as without chunks, to f32 rounding. */
    @Test
    void co2ReplicasWalkTheirSequencesInChunks(@TempDir Path tmp) throws Exception {
        Path text = text(tmp);
        double[] losses = new double[2];
        for (int i = 0; i < 2; i++) {
            java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of(
                    "train",
                    "--data",
                    text.toString(),
                    "--steps",
                    "2",
                    "--batch-size",
                    "4",
                    "--seq-len",
                    "32",
                    "--dp",
                    "2",
                    "--dp-algo",
                    "co2",
                    "--co2-tau",
                    "1",
                    "--dim",
                    "16",
                    "--layers",
                    "2",
                    "--heads",
                    "2",
                    "--eval-batches",
                    "0",
                    "--out",
                    tmp.resolve("co2-" + i).toString()));
            if (i == 1) {
                args.addAll(java.util.List.of("--seq-chunk", "8"));
            }
            CliTest.Run r = CliTest.run(args.toArray(String[]::new));
            assertThat(r.code()).as(r.err()).isZero();
            java.util.regex.Matcher m =
                    java.util.regex.Pattern.compile("last train loss ([0-9.]+)").matcher(r.out());
            assertThat(m.find()).as(r.out()).isTrue();
            losses[i] = Double.parseDouble(m.group(1));
            if (i == 1) {
                assertThat(r.out()).contains("each rank walks its 32 tokens in chunks of 8");
            }
        }
        assertThat(losses[1]).isCloseTo(losses[0], org.assertj.core.data.Offset.offset(1e-4 * losses[0]));
    }

    @Test
    void misuseGetsOneClearLine(@TempDir Path tmp) throws Exception {
        String out = tmp.resolve("o").toString();
        assertThat(CliTest.run("train", "--task", "mqar", "--steps", "2", "--seq-chunk", "0", "--out", out)
                        .err())
                .contains("--seq-chunk must be >= 1 token, got 0");
        CliTest.Run both = CliTest.run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--seq-chunk",
                "8",
                "--checkpoint-activations",
                "--out",
                out);
        assertThat(both.code()).isEqualTo(1);
        assertThat(both.err())
                .contains("--checkpoint-activations applies to whole-sequence steps")
                .doesNotContain("Exception");
        assertThat(CliTest.run(
                                "train",
                                "--task",
                                "mqar",
                                "--steps",
                                "2",
                                "--seq-chunk",
                                "8",
                                "--cuda-graph",
                                "--device",
                                "cuda",
                                "--out",
                                out)
                        .err())
                .contains("--cuda-graph does not capture a step that walks sequences in chunks");
        assertThat(CliTest.run(
                                "train",
                                "--task",
                                "mqar",
                                "--steps",
                                "2",
                                "--sp",
                                "2",
                                "--checkpoint-activations",
                                "--out",
                                out)
                        .err())
                .contains("--checkpoint-activations is not supported with --sp/--dp yet");
        assertThat(CliTest.run("train", "--task", "avvp-synthetic", "--steps", "2", "--seq-chunk", "8", "--out", out)
                        .err())
                .contains("--seq-chunk applies to language models, not to LEAP");
        CliTest.Run zero = CliTest.run(
                "train",
                "--task",
                "mqar",
                "--steps",
                "2",
                "--seq-len",
                "40",
                "--dp",
                "2",
                "--zero",
                "1",
                "--seq-chunk",
                "8",
                "--out",
                out);
        assertThat(zero.code()).isNotZero();
        assertThat(zero.err())
                .contains("--seq-chunk with --zero is not supported yet")
                .doesNotContain("Exception");
        CliTest.Run moe = CliTest.run(
                "train",
                "--task",
                "mqar",
                "--model",
                "minimax",
                "--steps",
                "2",
                "--seq-len",
                "40",
                "--dp",
                "2",
                "--seq-chunk",
                "8",
                "--out",
                out);
        assertThat(moe.code()).isNotZero();
        assertThat(moe.err())
                .contains("--seq-chunk with --sp/--dp is not supported for MoE models yet")
                .doesNotContain("Exception");
        CliTest.Run tooLong =
                CliTest.run("train", "--task", "mqar", "--steps", "2", "--seq-len", "4294967296", "--out", out);
        assertThat(tooLong.code()).isNotZero();
        assertThat(tooLong.err()).contains("--seq-len");
    }
}
