package fulgur.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tokenizer.TokenizerFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A model directory is written without deleting anything fulgur did not write. */
class ModelDirectoryWriterTest {

    private static IoConsumer<Path> files(String... namesAndContents) {
        return dir -> {
            for (int i = 0; i < namesAndContents.length; i += 2) {
                Files.writeString(dir.resolve(namesAndContents[i]), namesAndContents[i + 1]);
            }
        };
    }

    private static long count(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.count();
        }
    }

    @Test
    void aNewOrEmptyDirectoryIsWrittenWithItsMarker(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("a/b");
        ModelDirectoryWriter.write(out, false, "test", files("config.json", "{}", "model.safetensors", "w"));
        assertThat(Files.readString(out.resolve("config.json"))).isEqualTo("{}");
        assertThat(Files.readString(out.resolve(ModelDirectoryWriter.MARKER)))
                .contains("\"written_by\" : \"test\"")
                .contains("model.safetensors");
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        ModelDirectoryWriter.write(empty, false, "test", files("config.json", "{}"));
        assertThat(empty.resolve("config.json")).exists();
        assertThat(count(tmp)).as("no partial directories left beside").isEqualTo(2);
    }

    @Test
    void aDirectoryOfSomeoneElseIsRefusedAndLeftAlone(@TempDir Path tmp) throws Exception {
        Path out = Files.createDirectory(tmp.resolve("mine"));
        Files.writeString(out.resolve("notes.txt"), "keep me");
        Files.writeString(out.resolve("config.json"), "theirs");
        Files.createDirectory(out.resolve("data"));
        assertThatThrownBy(() -> ModelDirectoryWriter.write(out, false, "test", files("config.json", "{}")))
                .isInstanceOf(ModelDirectoryWriter.NotOursException.class)
                .hasMessageContaining(
                        out + " already exists and holds 3 file(s) fulgur did not write (e.g. data/, notes.txt)");
        assertThat(Files.readString(out.resolve("config.json"))).isEqualTo("theirs");
        assertThat(count(tmp)).isEqualTo(1);
        Path file = Files.writeString(tmp.resolve("file"), "x");
        assertThatThrownBy(() -> ModelDirectoryWriter.write(file, true, "test", files("config.json", "{}")))
                .hasMessageContaining("is a file, not a directory");
        assertThat(Files.readString(file)).isEqualTo("x");
    }

    @Test
    void overwritingReplacesOnlyModelFilesAndRemovesStaleShards(@TempDir Path tmp) throws Exception {
        Path out = Files.createDirectory(tmp.resolve("hf"));
        Files.writeString(out.resolve("README.md"), "keep me");
        Files.writeString(out.resolve("tokenizer.json"), "keep me too");
        Files.writeString(out.resolve("model-00001-of-00002.safetensors"), "old shard");
        Files.writeString(out.resolve("model-00002-of-00002.safetensors"), "old shard");
        Files.writeString(out.resolve("model.safetensors.index.json"), "old index");
        ModelDirectoryWriter.write(out, true, "test", files("config.json", "new", "model.safetensors", "new weights"));
        assertThat(Files.readString(out.resolve("README.md"))).isEqualTo("keep me");
        assertThat(Files.readString(out.resolve("tokenizer.json"))).isEqualTo("keep me too");
        assertThat(Files.readString(out.resolve("model.safetensors"))).isEqualTo("new weights");
        assertThat(out.resolve("model.safetensors.index.json")).doesNotExist(); // it would shadow the new single file
        assertThat(out.resolve("model-00001-of-00002.safetensors")).doesNotExist();
        // now marked: written again without being told to overwrite, the user's files still kept
        ModelDirectoryWriter.write(
                out,
                false,
                "test",
                files(
                        "config.json",
                        "newer",
                        "model-00001-of-00001.safetensors",
                        "s",
                        "model.safetensors.index.json",
                        "i"));
        assertThat(out.resolve("model.safetensors")).doesNotExist();
        assertThat(Files.readString(out.resolve("config.json"))).isEqualTo("newer");
        assertThat(Files.readString(out.resolve("README.md"))).isEqualTo("keep me");
        assertThat(count(tmp)).isEqualTo(1);
    }

    @Test
    void tokenizerFilesGoInWithTheModelAndLeaveWithIt(@TempDir Path tmp) throws Exception {
        assertThat(TokenizerFiles.NAMES).allMatch(ModelDirectoryWriter::isCompanionFile);
        Path out = Files.createDirectory(tmp.resolve("hf"));
        Files.writeString(out.resolve("tokenizer.json"), "theirs");
        Files.writeString(out.resolve("special_tokens_map.json"), "theirs");
        ModelDirectoryWriter.write(
                out,
                true,
                "test",
                files("config.json", "{}", "tokenizer.json", "ours", "tokenizer_config.json", "ours"));
        assertThat(Files.readString(out.resolve("tokenizer.json"))).isEqualTo("ours");
        assertThat(Files.readString(out.resolve("tokenizer_config.json"))).isEqualTo("ours");
        assertThat(Files.readString(out.resolve("special_tokens_map.json"))).isEqualTo("theirs");
        assertThat(Files.readString(out.resolve(ModelDirectoryWriter.MARKER)))
                .contains("tokenizer.json")
                .doesNotContain("special_tokens_map.json");
        // a model without tokenizer files written over it: the tokenizer written with the old model goes, the user's
        // stays
        ModelDirectoryWriter.write(out, false, "test", files("config.json", "{}", "model.safetensors", "w"));
        assertThat(out.resolve("tokenizer.json")).doesNotExist();
        assertThat(out.resolve("tokenizer_config.json")).doesNotExist();
        assertThat(Files.readString(out.resolve("special_tokens_map.json"))).isEqualTo("theirs");
        assertThat(count(tmp)).isEqualTo(1);
    }

    @Test
    void aFailedWriteLeavesTheTargetAsItWas(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("ck");
        ModelDirectoryWriter.write(out, false, "test", files("config.json", "v1"));
        assertThatThrownBy(() -> ModelDirectoryWriter.write(out, false, "test", dir -> {
                    Files.writeString(dir.resolve("config.json"), "v2");
                    throw new IOException("disk full");
                }))
                .hasMessage("disk full");
        assertThat(Files.readString(out.resolve("config.json"))).isEqualTo("v1");
        assertThatThrownBy(() ->
                        ModelDirectoryWriter.write(out, false, "test", files("config.json", "v2", "notes.txt", "x")))
                .hasMessageContaining("holds only model and tokenizer files, but notes.txt was written");
        assertThat(Files.readString(out.resolve("config.json"))).isEqualTo("v1");
        assertThat(count(tmp)).isEqualTo(1);
    }
}
