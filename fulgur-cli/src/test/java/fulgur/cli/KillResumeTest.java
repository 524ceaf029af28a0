package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.cli.report.MetricsLog;
import fulgur.dist.launch.Launcher;
import fulgur.train.Checkpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training process killed with SIGKILL between checkpoints: its last checkpoint is intact, its lock is taken over,
 * and the resumed run's losses equal those of a run never interrupted, bit for bit.
 */
class KillResumeTest {

    private static List<String> args(Path out, String steps) {
        return new ArrayList<>(List.of(
                "train",
                "--task",
                "mqar",
                "--mqar-pairs",
                "2",
                "--seq-len",
                "16",
                "--batch-size",
                "2",
                "--dim",
                "8",
                "--layers",
                "1",
                "--heads",
                "1",
                "--schedule",
                "constant",
                "--warmup",
                "0",
                "--eval-every",
                "0",
                "--checkpoint-every",
                "3",
                "--steps",
                steps,
                "--out",
                out.toString()));
    }

    private static List<Double> trainLosses(Path out) throws Exception {
        return MetricsLog.read(out.resolve("metrics.jsonl")).stream()
                .filter(e -> "train".equals(e.get("split")))
                .map(e -> ((Number) e.get("loss")).doubleValue())
                .toList();
    }

    @Test
    @Timeout(300)
    void aRunKilledMidwayResumesToTheUninterruptedLosses(@TempDir Path tmp) throws Exception {
        Path whole = tmp.resolve("whole");
        CliTest.Run a = CliTest.run(args(whole, "24").toArray(String[]::new));
        assertThat(a.code()).as(a.err()).isZero();

        // the same run in its own JVM, planned far longer, killed once a checkpoint past step 6 is on disk
        Path killed = tmp.resolve("killed");
        Process p = new ProcessBuilder(Launcher.javaCommand(Main.class.getName(), args(killed, "100000")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(240);
            long step = 0;
            while (step < 6 && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(20);
                try {
                    step = ((Number) Checkpoint.readState(killed.resolve("checkpoint"))
                                    .get("step"))
                            .longValue();
                } catch (Exception notYet) {
                    // no checkpoint yet, or caught between its renames
                }
            }
            assertThat(step).as("a checkpoint past step 6 appeared").isGreaterThanOrEqualTo(6);
            p.destroyForcibly();
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
        assertThat(Files.readString(killed.resolve(".fulgur.lock"))).contains("\"pid\" : " + p.pid());

        // constant learning rate: a run of 24 steps computes the same first 24 steps as one planned for 100 000
        CliTest.Run b = CliTest.run(concat(args(killed, "24"), "--resume"));
        assertThat(b.code()).as(b.err()).isZero();
        assertThat(b.out())
                .contains("was locked by pid " + p.pid())
                .contains("no longer running; taking the lock over")
                .contains("done: 24 steps");
        assertThat(trainLosses(killed)).hasSize(24).containsExactlyElementsOf(trainLosses(whole));
    }

    private static String[] concat(List<String> a, String... b) {
        a.addAll(List.of(b));
        return a.toArray(String[]::new);
    }
}
