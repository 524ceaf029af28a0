package fulgur.io.safetensors;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.MalformedFileException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Header sizes: up to the format's own limit (100 MB), whatever Jackson's default limits on strings are. */
class SafetensorsLimitsTest {

    private static Path file(Path dir, String header) throws Exception {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        Path f = dir.resolve("big.safetensors");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(8)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(h.length)
                    .flip());
            ch.write(ByteBuffer.wrap(h));
            ch.write(ByteBuffer.allocate(4));
        }
        return f;
    }

    @Test
    void aHeaderWithA25MegabyteMetadataStringOpens(@TempDir Path dir) throws Exception {
        String big = "x".repeat(25 << 20); // above Jackson's default 20 MB string limit
        Path f = file(
                dir,
                "{\"__metadata__\":{\"notes\":\"" + big
                        + "\"},\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}");
        try (SafetensorsFile st = SafetensorsFile.open(f)) {
            assertThat(st.metadata().get("notes")).hasSize(25 << 20);
            assertThat(st.names()).containsExactly("w");
        }
    }

    @Test
    void aLengthPrefixBeyondTheFormatsLimitIsRefusedWithoutReadingIt(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("huge.safetensors");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(16)
                    .order(ByteOrder.LITTLE_ENDIAN)
                    .putLong(SafetensorsFile.MAX_HEADER_BYTES + 1)
                    .flip());
        }
        assertThatThrownBy(() -> SafetensorsFile.open(f))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("exceeds the format's limit");
    }
}
