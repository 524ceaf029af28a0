package fulgur.dist.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A launcher killed with SIGKILL runs no cleanup: its ranks notice it is gone and exit by themselves. */
class LauncherKilledTest {

    @Test
    @Timeout(120)
    void ranksExitWhenTheirLauncherIsKilled() throws Exception {
        Process launcher = new ProcessBuilder(Launcher.javaCommand(LaunchParent.class.getName(), List.of()))
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        List<ProcessHandle> ranks = List.of();
        try {
            BufferedReader out =
                    new BufferedReader(new InputStreamReader(launcher.getInputStream(), StandardCharsets.UTF_8));
            int ready = 0;
            for (String line; ready < 2 && (line = out.readLine()) != null; ) {
                ready += line.endsWith("] ready") ? 1 : 0;
            }
            assertThat(ready).as("both ranks started").isEqualTo(2);
            ranks = launcher.descendants().filter(ProcessHandle::isAlive).toList();
            assertThat(ranks).hasSize(2);
            launcher.destroyForcibly(); // SIGKILL: no shutdown hook runs
            assertThat(launcher.waitFor(30, TimeUnit.SECONDS)).isTrue();
            long t0 = System.nanoTime();
            for (ProcessHandle r : ranks) {
                r.onExit().get(60, TimeUnit.SECONDS);
            }
            assertThat(ranks).noneMatch(ProcessHandle::isAlive);
            assertThat((System.nanoTime() - t0) / 1e9)
                    .as("seconds until the ranks were gone")
                    .isLessThan(60);
        } finally {
            ranks.forEach(ProcessHandle::destroyForcibly); // whatever the outcome, leave no rank behind
            launcher.descendants().forEach(ProcessHandle::destroyForcibly);
            launcher.destroyForcibly();
        }
    }
}
