package fulgur.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtomicFilesTest {

    @TempDir
    Path dir;

    private String[] listing() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toArray(String[]::new);
        }
    }

    @Test
    void writesBytesAndReplacesExistingFileLeavingNoTemporaries() throws IOException {
        Path f = dir.resolve("a.bin");
        AtomicFiles.write(f, new byte[] {1, 2, 3});
        assertThat(Files.readAllBytes(f)).containsExactly(1, 2, 3);
        AtomicFiles.write(f, new byte[] {9});
        assertThat(Files.readAllBytes(f)).containsExactly(9);
        assertThat(listing()).containsExactly("a.bin");
    }

    @Test
    void writesStringsAsUtf8() throws IOException {
        Path f = dir.resolve("s.txt");
        AtomicFiles.writeString(f, "héllo ∑ 😀");
        assertThat(Files.readString(f, StandardCharsets.UTF_8)).isEqualTo("héllo ∑ 😀");
    }

    @Test
    void streamCallbackMayCloseItsStream() throws IOException {
        Path f = dir.resolve("stream.bin");
        AtomicFiles.write(f, out -> {
            for (int i = 0; i < 100_000; i++) {
                out.write(i & 0xFF);
            }
            out.close();
        });
        byte[] bytes = Files.readAllBytes(f);
        assertThat(bytes).hasSize(100_000);
        assertThat(bytes[12345]).isEqualTo((byte) (12345 & 0xFF));
    }

    @Test
    void channelCallbackWrites() throws IOException {
        Path f = dir.resolve("nested/deeper/ch.bin");
        AtomicFiles.writeChannel(
                f, ch -> AtomicFiles.writeFully(ch, ByteBuffer.wrap("xyz".getBytes(StandardCharsets.US_ASCII))));
        assertThat(Files.readString(f)).isEqualTo("xyz");
    }

    @Test
    void failureInsideTheCallbackKeepsThePreviousContentAndRemovesTheTemporary() throws IOException {
        Path f = dir.resolve("keep.txt");
        AtomicFiles.writeString(f, "old");
        assertThatThrownBy(() -> AtomicFiles.write(f, out -> {
                    out.write("new partial".getBytes(StandardCharsets.UTF_8));
                    throw new IOException("disk on fire");
                }))
                .isInstanceOf(IOException.class)
                .hasMessage("disk on fire");
        assertThat(Files.readString(f)).isEqualTo("old");
        assertThat(listing()).containsExactly("keep.txt");

        assertThatThrownBy(() -> AtomicFiles.writeChannel(f, ch -> {
                    throw new IllegalStateException("bug");
                }))
                .isInstanceOf(IllegalStateException.class);
        assertThat(Files.readString(f)).isEqualTo("old");
        assertThat(listing()).containsExactly("keep.txt");
    }

    @Test
    void pendingWriteIsInvisibleUntilCommitAndVanishesIfAbandoned() throws IOException {
        Path f = dir.resolve("p.bin");
        try (AtomicFiles.Pending p = AtomicFiles.begin(f)) {
            p.outputStream().write(new byte[] {1, 2});
            AtomicFiles.writeFully(p.channel(), ByteBuffer.wrap(new byte[] {3}));
            p.outputStream().write(4);
            assertThat(f).doesNotExist();
            assertThat(p.tempFile()).exists().hasParent(dir.toAbsolutePath());
            p.commit();
            assertThatThrownBy(p::commit)
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("already committed");
        }
        assertThat(Files.readAllBytes(f)).containsExactly(1, 2, 3, 4);

        Path g = dir.resolve("abandoned.bin");
        try (AtomicFiles.Pending p = AtomicFiles.begin(g)) {
            p.outputStream().write(7);
        }
        assertThat(g).doesNotExist();
        assertThat(listing()).containsExactly("p.bin");
    }

    @Test
    void refusesToReplaceADirectory() {
        assertThatThrownBy(() -> AtomicFiles.write(dir, new byte[1]))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("is a directory");
    }
}
