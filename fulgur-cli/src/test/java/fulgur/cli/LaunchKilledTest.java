package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.dist.launch.Launcher;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** `fulgur launch` killed with SIGKILL: the training rank it started notices and exits instead of running on. */
class LaunchKilledTest {

    @Test
    @Timeout(180)
    void aTrainingRankExitsWhenItsLauncherIsKilled(@TempDir Path tmp) throws Exception {
        List<String> cmd = Launcher.javaCommand(
                Main.class.getName(),
                List.of(
                        "launch",
                        "--nproc-per-node",
                        "1",
                        "train",
                        "--task",
                        "mqar",
                        "--steps",
                        "1000000",
                        "--dim",
                        "8",
                        "--layers",
                        "1",
                        "--heads",
                        "1",
                        "--batch-size",
                        "1",
                        "--seq-len",
                        "16",
                        "--mqar-pairs",
                        "2",
                        "--eval-every",
                        "0",
                        "--out",
                        tmp.resolve("run").toString()));
        Process launcher = new ProcessBuilder(cmd)
                .redirectError(ProcessBuilder.Redirect.DISCARD)
                .start();
        List<ProcessHandle> ranks = List.of();
        try {
            BufferedReader out =
                    new BufferedReader(new InputStreamReader(launcher.getInputStream(), StandardCharsets.UTF_8));
            String line;
            while ((line = out.readLine()) != null && !line.startsWith("[rank 0] model:")) {
                // wait until the rank trains
            }
            assertThat(line).as("the rank started training").isNotNull();
            ranks = launcher.descendants().filter(ProcessHandle::isAlive).toList();
            assertThat(ranks).isNotEmpty();
            launcher.destroyForcibly();
            assertThat(launcher.waitFor(30, TimeUnit.SECONDS)).isTrue();
            for (ProcessHandle r : ranks) {
                r.onExit().get(60, TimeUnit.SECONDS);
            }
            assertThat(ranks).noneMatch(ProcessHandle::isAlive);
        } finally {
            ranks.forEach(ProcessHandle::destroyForcibly);
            launcher.destroyForcibly();
        }
    }
}
