package fulgur.dist.launch;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Multi-process tests: the launcher, the TCP store and the rendezvous, with real child JVMs. */
class LauncherTest {

    private record Run(int code, String out, String err, double seconds) {}

    private static Run launch(Launcher.Options o) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        long t0 = System.nanoTime();
        int code = Launcher.run(
                o,
                new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(
                code,
                out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8),
                (System.nanoTime() - t0) / 1e9);
    }

    private static List<String> probe(String... args) {
        return Launcher.javaCommand(LaunchProbe.class.getName(), List.of(args));
    }

    @Test
    void ranksRendezvousAndTheirOutputIsPrefixed() {
        Run r = launch(Launcher.Options.local(3, probe("rendezvous", "60000")));
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out())
                .contains(
                        "[rank 0] joined 3 local 0: hello from rank 0",
                        "[rank 1] joined 3 local 1: hello from rank 0",
                        "[rank 2] joined 3 local 2: hello from rank 0");
        // the ranks run with jdk.incubator.vector like this JVM, and their JVM's warning about it is not relayed
        assertThat(Launcher.javaCommand("X", List.of())).anyMatch(a -> a.contains("jdk.incubator.vector"));
        assertThat(r.err()).doesNotContain(Launcher.INCUBATOR_WARNING);
    }

    @Test
    void eachRanksIncubatorWarningIsDroppedAndItsOtherErrorLinesRelayed() throws Exception {
        // a JVM started as the ranks are prints the warning first on its stderr
        Process direct = new ProcessBuilder(probe("stderr")).start();
        String directErr = new String(direct.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(direct.waitFor()).isZero();
        assertThat(directErr).startsWith(Launcher.INCUBATOR_WARNING).contains("a line on stderr");

        Run r = launch(Launcher.Options.local(2, probe("stderr")));
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err())
                .contains("[rank 0] a line on stderr", "[rank 1] a line on stderr")
                .doesNotContain(Launcher.INCUBATOR_WARNING);
    }

    @Test
    void aRankThatDoesNotShowUpIsNamedAfterTheTimeout() {
        // node 0 of 2 nodes: ranks 0 and 1 start, ranks 2 and 3 (node 1) never do
        Launcher.Options o = new Launcher.Options(
                2,
                2,
                0,
                "127.0.0.1",
                Launcher.freePort(),
                probe("rendezvous", "1500"),
                Map.of(),
                Duration.ofSeconds(2));
        Run r = launch(o);
        assertThat(r.code()).isEqualTo(2);
        assertThat(r.err()).contains("rank(s) [2, 3] of 4 did not join within 1500 ms (joined: [0, 1])");
        assertThat(r.seconds()).isLessThan(30);
    }

    @Test
    void oneFailingRankStopsTheOthers() {
        Run r = launch(Launcher.Options.local(3, probe("fail", "1", "3")));
        assertThat(r.code()).isEqualTo(3);
        assertThat(r.out()).contains("[rank 1] about to fail");
        assertThat(r.err()).contains("fulgur launch: rank 1 exited with code 3; stopping the other ranks");
        assertThat(r.seconds()).as("the sleeping ranks were stopped").isLessThan(30);
    }
}
