package fulgur.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** One writer per output directory: a second one, in this process or another, is refused; a dead owner's lock is taken over. */
@Timeout(120)
class DirectoryLockTest {

    private record Holder(Process process, BufferedReader out) {
        String line() throws Exception {
            String l = out.readLine();
            return l == null ? "(exited " + process.waitFor() + ")" : l;
        }
    }

    /** A JVM running {@link LockHolder} on {@code dir}. */
    private static Holder holder(Path dir) throws Exception {
        String java = ProcessHandle.current().info().command().orElse(System.getProperty("java.home") + "/bin/java");
        Process p = new ProcessBuilder(
                        java, "-cp", System.getProperty("java.class.path"), LockHolder.class.getName(), dir.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
        return new Holder(p, new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)));
    }

    @Test
    void aSecondWriterInThisProcessIsRefusedAndTheFirstKeepsItsLock(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        List<String> notes = new ArrayList<>();
        try (DirectoryLock first = DirectoryLock.acquire(out, "train", notes::add)) {
            assertThatThrownBy(() -> DirectoryLock.acquire(out, "train", notes::add))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining(out + " is in use by another run in this process")
                    .hasMessageContaining("choose another output directory");
            assertThatThrownBy(() -> DirectoryLock.acquire(out.resolve("../run/."), "train", notes::add))
                    .isInstanceOf(IllegalStateException.class);
            // the refusals touched nothing: another process still finds the directory locked by this one
            Holder h = holder(out);
            assertThat(h.line())
                    .startsWith("refused: ")
                    .contains("pid " + ProcessHandle.current().pid())
                    .contains("(fulgur train)");
            assertThat(h.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(first.directory()).isEqualTo(out.toAbsolutePath());
        }
        try (DirectoryLock again = DirectoryLock.acquire(out, "train", notes::add)) {
            assertThat(notes).as("a clean release leaves nothing to take over").isEmpty();
        }
    }

    @Test
    void anotherProcessIsRefusedWhileItHoldsTheLockAndAKilledOwnersLockIsTakenOver(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        Holder h = holder(out);
        assertThat(h.line()).isEqualTo("locked");
        long pid = h.process().pid();
        assertThatThrownBy(() -> DirectoryLock.acquire(out, "train", n -> {}))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("is in use by pid " + pid + " (fulgur holder)")
                .hasMessageContaining(DirectoryLock.FILE);
        h.process().destroyForcibly(); // SIGKILL: no code of the owner runs, its lock file still names it
        assertThat(h.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        List<String> notes = new ArrayList<>();
        try (DirectoryLock l = DirectoryLock.acquire(out, "train", notes::add)) {
            assertThat(notes)
                    .singleElement()
                    .asString()
                    .contains("was locked by pid " + pid)
                    .contains("no longer running; taking the lock over");
        }
        assertThat(Files.readString(out.resolve(DirectoryLock.FILE)))
                .as("released: emptied")
                .isEmpty();
    }

    @Test
    void aHolderThatReleasesLetsTheNextOneInWithoutANote(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        Holder h = holder(out);
        assertThat(h.line()).isEqualTo("locked");
        h.process().getOutputStream().close(); // the holder releases and exits
        assertThat(h.process().waitFor(30, TimeUnit.SECONDS)).isTrue();
        List<String> notes = new ArrayList<>();
        try (DirectoryLock l = DirectoryLock.acquire(out, "train", notes::add)) {
            assertThat(notes).isEmpty();
        }
    }

    @Test
    void aFileIsNotADirectoryToLock(@TempDir Path tmp) throws Exception {
        Path f = Files.writeString(tmp.resolve("f"), "x");
        assertThatThrownBy(() -> DirectoryLock.acquire(f, "train", n -> {}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("is a file");
    }

    @Test
    void aBorrowedLockCoversOnlyItsDirectoryAndReleasesNothing(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        try (DirectoryLock l = DirectoryLock.acquire(out, "train", n -> {})) {
            assertThatThrownBy(() -> l.borrow(tmp.resolve("other"))).hasMessageContaining("does not cover");
            l.borrow(out).close();
            assertThatThrownBy(() -> DirectoryLock.acquire(out, "train", n -> {}))
                    .isInstanceOf(IllegalStateException.class);
        }
    }
}
