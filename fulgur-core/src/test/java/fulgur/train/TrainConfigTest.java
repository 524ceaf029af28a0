package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.Json;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TrainConfigTest {

    private static TrainConfig with(
            double lr, int batch, int seq, double clip, double minFraction, double wd, double beta1, double eps) {
        return new TrainConfig(
                10, batch, seq, 1, lr, 1, LrSchedule.Kind.COSINE, minFraction, wd, beta1, 0.95, eps, clip, 0, 0, 1);
    }

    @Test
    void settingsThatWouldPoisonOrOverflowTheRunAreRefused() {
        assertThatThrownBy(() ->
                        with(3e-3, 16, 128, Double.NaN, 0.1, 0.1, 0.9, 1e-8).validate())
                .hasMessageContaining("gradient clip must be finite and >= 0")
                .hasMessageContaining("NaN");
        assertThatThrownBy(() -> with(3e-3, 16, 128, Double.POSITIVE_INFINITY, 0.1, 0.1, 0.9, 1e-8)
                        .validate())
                .hasMessageContaining("gradient clip");
        assertThatThrownBy(
                        () -> with(Double.NaN, 16, 128, 1, 0.1, 0.1, 0.9, 1e-8).validate())
                .hasMessageContaining("learning rate must be finite and > 0");
        // 2e9 sequences of 128 tokens: the product no longer fits the int that indexes a batch's arrays
        assertThatThrownBy(() ->
                        with(3e-3, 2_000_000_000, 128, 1, 0.1, 0.1, 0.9, 1e-8).validate())
                .hasMessageContaining(
                        "batch size × sequence length = 256000000000 tokens is more than one micro-batch can hold");
        assertThatThrownBy(() -> with(3e-3, 16, 128, 1, 1.5, 0.1, 0.9, 1e-8).validate())
                .hasMessageContaining("minimum learning-rate fraction");
        assertThatThrownBy(
                        () -> with(3e-3, 16, 128, 1, 0.1, Double.NaN, 0.9, 1e-8).validate())
                .hasMessageContaining("weight decay");
        assertThatThrownBy(() -> with(3e-3, 16, 128, 1, 0.1, 0.1, 1.0, 1e-8).validate())
                .hasMessageContaining("AdamW betas");
        assertThatThrownBy(() -> with(3e-3, 16, 128, 1, 0.1, 0.1, 0.9, 0).validate())
                .hasMessageContaining("AdamW eps");
        assertThat(with(3e-3, 16, 128, 0, 0, 0, 0, 1e-8).validate())
                .isNotNull(); // zero clip, decay, min fraction and beta are fine
    }

    @Test
    void eachWitherChangesItsOwnSettingsOnly() {
        TrainConfig d = TrainConfig.defaults();
        assertThat(d.withSteps(120).changesFrom(d))
                .extracting(TrainConfig.Change::toString)
                .containsExactly("steps 120 (checkpoint: 1000)");
        assertThat(d.withBatch(8, 64).changesFrom(d))
                .extracting(TrainConfig.Change::toString)
                .containsExactly("batchSize 8 (checkpoint: 16)", "seqLen 64 (checkpoint: 128)");
        assertThat(d.withLr(1e-3, 10).changesFrom(d))
                .extracting(TrainConfig.Change::toString)
                .containsExactly("lr 0.001 (checkpoint: 0.003)", "warmupSteps 10 (checkpoint: 50)");
        assertThat(d.withEvalEvery(0).changesFrom(d))
                .extracting(TrainConfig.Change::toString)
                .containsExactly("evalEvery 0 (checkpoint: 100)");
        assertThat(d.withSteps(120))
                .isNotSameAs(d)
                .isEqualTo(new TrainConfig(
                        120,
                        16,
                        128,
                        1,
                        3e-3,
                        50,
                        LrSchedule.Kind.COSINE,
                        0.1,
                        0.1,
                        0.9,
                        0.95,
                        1e-8,
                        1.0,
                        100,
                        0,
                        1234));
    }

    @Test
    void resumeConflictsNameEverySettingThatChangesTheMathButNotStepsOrIntervals() {
        TrainConfig saved = TrainConfig.defaults();
        TrainConfig longer = new TrainConfig(
                5000, 16, 128, 1, 3e-3, 50, LrSchedule.Kind.COSINE, 0.1, 0.1, 0.9, 0.95, 1e-8, 1.0, 7, 9, 1234);
        assertThat(longer.resumeConflicts(saved)).isEmpty();
        assertThat(longer.changesFrom(saved))
                .extracting(TrainConfig.Change::field)
                .containsExactly("steps", "evalEvery", "checkpointEvery");
        TrainConfig changed = new TrainConfig(
                1000, 8, 64, 2, 1e-3, 50, LrSchedule.Kind.LINEAR, 0.1, 0.0, 0.9, 0.95, 1e-8, 0.5, 100, 0, 7);
        assertThat(changed.resumeConflicts(saved))
                .extracting(TrainConfig.Change::toString)
                .containsExactly(
                        "batchSize 8 (checkpoint: 16)",
                        "seqLen 64 (checkpoint: 128)",
                        "accumulation 2 (checkpoint: 1)",
                        "lr 0.001 (checkpoint: 0.003)",
                        "schedule LINEAR (checkpoint: COSINE)",
                        "weightDecay 0.0 (checkpoint: 0.1)",
                        "gradClip 0.5 (checkpoint: 1.0)",
                        "seed 7 (checkpoint: 1234)");
    }

    @Test
    void theSettingsACheckpointRecordedReadBack() {
        TrainConfig cfg = TrainConfig.defaults();
        Map<String, Object> state = new LinkedHashMap<>();
        state.put("step", 3);
        assertThat(TrainConfig.saved(state)).isNull();
        // as Trainer writes it and as it comes back from trainer_state.json
        state.put(
                "train_config",
                Json.mapper()
                        .convertValue(
                                Json.parse(Json.toJson(Json.mapper().convertValue(cfg, Map.class)), "state"),
                                Map.class));
        assertThat(TrainConfig.saved(state)).isEqualTo(cfg);
    }
}
