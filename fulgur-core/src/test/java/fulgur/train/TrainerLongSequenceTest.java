package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.data.TokenStream;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer with sequences walked in chunks, and with activation checkpointing: the loss curve of the plain run (the
 * gradients are the same up to rounding, so is every AdamW step), evaluation in chunks, and the warning for layers
 * whose carried state grows with the sequence.
 */
class TrainerLongSequenceTest {
    static final RecordedRuns RUNS = new RecordedRuns();
    static final int[] CORPUS = corpus();

    static int[] corpus() {
        int[] c = new int[5000];
        for (int i = 0; i < c.length; i++) {
            c[i] = (i * 7 + (i / 13) * 3) % 50;
        }
        return c;
    }

    static TrainConfig config() {
        return new TrainConfig(4, 2, 40, 2, 3e-3, 1, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 0, 0, 11);
    }

    List<Double> run(String model, Path dir, int chunk, boolean checkpoint, ByteArrayOutputStream log) {
        var a = Architectures.byName(model);
        var eval = fulgur.data.PackedSequenceSampler.sequential(TokenStream.of(CORPUS), 2, 40);
        List<fulgur.data.Batch> held = List.of(eval.next());
        try (LanguageModel m = a.build(a.smallConfig(50, 16, 2, 2), 5)) {
            new Trainer(
                            m,
                            config(),
                            DataSources.packed(TokenStream.of(CORPUS), 2, 40, 3),
                            Trainer.lossOn(held, chunk),
                            dir,
                            new PrintStream(log, true))
                    .listener(
                            TrainingListener.all(List.of(RUNS, TrainingListener.printing(new PrintStream(log, true)))))
                    .sequenceChunk(chunk)
                    .checkpointActivations(checkpoint)
                    .run(false);
        }
        return RUNS.losses(dir);
    }

    @Test
    void chunkedAndCheckpointedRunsFollowThePlainRun(@TempDir Path tmp) {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        List<Double> plain = run("tnl", tmp.resolve("plain"), 0, false, log);
        List<Double> chunked = run("tnl", tmp.resolve("chunked"), 7, false, log);
        List<Double> checkpointed = run("tnl", tmp.resolve("checkpointed"), 0, true, log);
        assertThat(plain).hasSize(4);
        for (int s = 0; s < 4; s++) {
            assertThat(chunked.get(s))
                    .as("chunked step %d", s + 1)
                    .isCloseTo(plain.get(s), org.assertj.core.data.Offset.offset(2e-5 * plain.get(s)));
            assertThat(checkpointed.get(s))
                    .as("checkpointed step %d", s + 1)
                    .isCloseTo(plain.get(s), org.assertj.core.data.Offset.offset(2e-5 * plain.get(s)));
        }
        double plainEval = RUNS.evals(tmp.resolve("plain")).getLast().metrics().get("loss");
        assertThat(RUNS.evals(tmp.resolve("chunked")).getLast().metrics().get("loss"))
                .as("held-out loss evaluated in chunks")
                .isCloseTo(plainEval, org.assertj.core.data.Offset.offset(2e-5 * plainEval));
        assertThat(log.toString())
                .contains("sequence chunks: 40 tokens per sequence in 6 chunks of 7")
                .doesNotContain("warning");
    }

    @Test
    void aHybridsGrowingKeysAndValuesAreReported(@TempDir Path tmp) {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        run("minimax", tmp.resolve("minimax"), 16, false, log);
        assertThat(log.toString())
                .contains("warning: the softmax-attention layers keep the keys and values of every earlier chunk");
    }

    @Test
    void checkpointingAndChunksTogetherAreRefusedInOneLine(@TempDir Path tmp) {
        assertThatThrownBy(() -> run("tnl", tmp, 8, true, new ByteArrayOutputStream()))
                .hasMessageContaining("activation checkpointing applies to whole-sequence steps");
    }
}
