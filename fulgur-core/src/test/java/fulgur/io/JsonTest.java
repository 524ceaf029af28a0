package fulgur.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JsonTest {

    record Point(int x, String label) {}

    @TempDir
    Path dir;

    @Test
    void recordsRoundTripThroughAtomicWrite() throws IOException {
        Path f = dir.resolve("p.json");
        Json.write(f, new Point(3, "a"));
        assertThat(Json.read(f, Point.class)).isEqualTo(new Point(3, "a"));
        assertThat(Json.read(f).get("x").asInt()).isEqualTo(3);
    }

    @Test
    void malformedFileNamesFileAndLine() throws IOException {
        Path f = dir.resolve("bad.json");
        Files.writeString(f, "{\n  \"a\": 1,\n  \"b\": }\n");
        assertThatThrownBy(() -> Json.read(f))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageStartingWith(f.toString())
                .hasMessageContaining("line 3");
    }

    @Test
    void duplicateKeysAreAnError() throws IOException {
        Path f = dir.resolve("dup.json");
        Files.writeString(f, "{\"a\": 1, \"a\": 2}");
        assertThatThrownBy(() -> Json.read(f))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("Duplicate field 'a'");
    }

    @Test
    void emptyFileIsAnError() throws IOException {
        Path f = dir.resolve("empty.json");
        Files.writeString(f, "");
        assertThatThrownBy(() -> Json.read(f))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("empty file");
    }

    @Test
    void unknownPropertiesAreTolerated() {
        assertThat(Json.parse("{\"x\":1,\"label\":\"b\",\"extra\":true}", Point.class, "test"))
                .isEqualTo(new Point(1, "b"));
        assertThatThrownBy(() -> Json.parse("{", Point.class, "config.json"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageStartingWith("config.json: invalid JSON");
    }
}
