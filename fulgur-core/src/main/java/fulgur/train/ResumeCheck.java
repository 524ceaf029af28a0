package fulgur.train;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import java.util.stream.Collectors;

/**
 * A resumed run continues the checkpoint's run: the same settings (those of {@link TrainConfig#FREE_ON_RESUME}
 * aside), and more steps than the checkpoint has done. A change is refused, naming each setting, unless allowed.
 */
public final class ResumeCheck {

    private ResumeCheck() {}

    /**
     * Checks {@code cfg} against the settings recorded in {@code trainerState} (checkpoint {@code dir}); with
     * {@code allowChanges} the changes are reported to {@code notes} (one line each) instead of refused.
     *
     * @param cfg this run's settings
     * @param trainerState the checkpoint's trainer state
     * @param dir the checkpoint directory, for messages
     * @param allowChanges whether changed settings are reported rather than refused
     * @param notes where changes are reported
     * @throws IllegalArgumentException when the checkpoint is past the run's steps, or settings changed without {@code
     *     allowChanges}
     */
    public static void check(
            TrainConfig cfg, Map<String, Object> trainerState, Path dir, boolean allowChanges, Consumer<String> notes) {
        long step = ((Number) trainerState.get("step")).longValue();
        if (cfg.steps() < step) {
            throw new IllegalArgumentException("cannot resume " + dir + " for " + cfg.steps()
                    + " steps: the checkpoint is at step " + step + " already");
        }
        TrainConfig saved = TrainConfig.saved(trainerState);
        if (saved == null) {
            return; // written before settings were recorded
        }
        List<TrainConfig.Change> conflicts = cfg.resumeConflicts(saved);
        if (!conflicts.isEmpty()) {
            String list = conflicts.stream().map(TrainConfig.Change::toString).collect(Collectors.joining(", "));
            if (!allowChanges) {
                throw new IllegalArgumentException("cannot resume " + dir + " with different settings: " + list
                        + "; resume with the checkpoint's settings, or allow the changes explicitly");
            }
            notes.accept("note: resuming with changed settings: " + list);
        }
        if (cfg.steps() != saved.steps()) {
            notes.accept("note: the run now ends at step " + cfg.steps() + " instead of " + saved.steps()
                    + "; the learning-rate schedule from step " + step + " on follows the new length");
        }
    }
}
