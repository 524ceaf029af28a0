package fulgur.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.io.MalformedFileException;
import fulgur.tokenizer.ByteTokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TextCorpusTest {

    @TempDir
    Path dir;

    private final ByteTokenizer eosTokenizer = ByteTokenizer.withEndOfText(); // EOS = 256

    private static int[] all(TokenStream s) {
        return s.toArray(0, Math.toIntExact(s.size()));
    }

    @Test
    void plainTextIsOneDocumentFollowedByEos() throws IOException {
        Path f = dir.resolve("a.txt");
        Files.writeString(f, "hi\nyo");
        TextCorpus c = TextCorpus.load(f, eosTokenizer);
        assertThat(all(c.tokens())).containsExactly('h', 'i', '\n', 'y', 'o', 256);
        assertThat(c.documentCount()).isEqualTo(1);
    }

    @Test
    void jsonLinesDocumentsAreSeparatedByEos() throws IOException {
        Path f = dir.resolve("d.jsonl");
        Files.writeString(f, "{\"text\": \"ab\", \"id\": 1}\n\n{\"text\": \"c\"}\n{\"text\": \"\"}\n");
        TextCorpus c = TextCorpus.load(
                List.of(f), eosTokenizer, TextCorpus.Options.defaults().withValidationFraction(0));
        assertThat(all(c.tokens())).containsExactly('a', 'b', 256, 'c', 256, 256);
        assertThat(c.documentCount()).isEqualTo(3);
        // no EOS without one in the tokenizer, or when asked not to separate
        assertThat(all(TextCorpus.load(List.of(f), new ByteTokenizer(), TextCorpus.Options.defaults())
                        .tokens()))
                .containsExactly('a', 'b', 'c');
        assertThat(all(TextCorpus.load(
                                List.of(f),
                                eosTokenizer,
                                TextCorpus.Options.defaults().withSeparateDocuments(false))
                        .tokens()))
                .containsExactly('a', 'b', 'c');
    }

    @Test
    void customFieldAndForcedFormat() throws IOException {
        Path f = dir.resolve("data.log");
        Files.writeString(f, "{\"content\": \"xy\"}\n");
        TextCorpus.Options o = TextCorpus.Options.defaults()
                .withFormat(TextCorpus.Format.JSONL)
                .withTextField("content");
        assertThat(all(TextCorpus.load(List.of(f), eosTokenizer, o).tokens())).containsExactly('x', 'y', 256);
    }

    @Test
    void validationIsTheLastFractionDeterministically() throws IOException {
        Path f = dir.resolve("n.txt");
        Files.writeString(f, "0123456789".repeat(10)); // 100 bytes, no EOS with this tokenizer
        TextCorpus c = TextCorpus.load(List.of(f), new ByteTokenizer(), TextCorpus.Options.defaults());
        assertThat(c.size()).isEqualTo(100);
        assertThat(c.train().size()).isEqualTo(90);
        assertThat(c.validation().size()).isEqualTo(10);
        assertThat(all(c.validation()))
                .containsExactly(IntStream.range(0, 10).map(i -> '0' + i).toArray());
        assertThat(all(c.train())).containsExactly(java.util.Arrays.copyOf(all(c.tokens()), 90));
        TextCorpus c25 = TextCorpus.load(
                List.of(f), new ByteTokenizer(), TextCorpus.Options.defaults().withValidationFraction(0.25));
        assertThat(c25.validation().size()).isEqualTo(25);
        assertThat(TextCorpus.load(
                                List.of(f),
                                new ByteTokenizer(),
                                TextCorpus.Options.defaults().withValidationFraction(0))
                        .validation()
                        .size())
                .isZero();
        assertThatThrownBy(() -> TextCorpus.Options.defaults().withValidationFraction(1.0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("validationFraction");
    }

    @Test
    void directoriesExpandToCorpusFilesInNameOrder() throws IOException {
        Path d = Files.createDirectory(dir.resolve("corpus"));
        Files.writeString(d.resolve("b.txt"), "B");
        Files.writeString(d.resolve("a.jsonl"), "{\"text\":\"A\"}\n");
        Files.writeString(d.resolve("ignored.md"), "nope");
        assertThat(all(TextCorpus.load(d, eosTokenizer).tokens())).containsExactly('A', 256, 'B', 256);
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertThatThrownBy(() -> TextCorpus.load(empty, eosTokenizer))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("no .txt");
        assertThatThrownBy(() -> TextCorpus.load(dir.resolve("missing.txt"), eosTokenizer))
                .isInstanceOf(IOException.class)
                .hasMessageContaining("missing.txt");
    }

    private void assertLineError(String content, String... fragments) throws IOException {
        Path f = dir.resolve("bad" + System.nanoTime() + ".jsonl");
        Files.writeString(f, content);
        var a = assertThatThrownBy(() -> TextCorpus.load(f, eosTokenizer))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageStartingWith(f.toString());
        for (String s : fragments) {
            a.hasMessageContaining(s);
        }
    }

    @Test
    void malformedJsonLinesNameTheFileAndLine() throws IOException {
        assertLineError("{\"text\":\"a\"}\n\n{\"text\": \"b\"\n", "line 3", "invalid JSON");
        assertLineError("{\"text\":\"a\"}\n{\"body\":\"b\"}\n", "line 2", "no field \"text\"", "body");
        assertLineError("{\"text\":5}\n", "line 1", "field \"text\" is number, expected a string");
        assertLineError("{\"text\":\"a\"}\n[1,2]\n", "line 2", "expected a JSON object, found array");
        assertLineError("{\"text\":\"a\", \"text\":\"b\"}\n", "line 1", "Duplicate field");
        Path f = dir.resolve("utf.jsonl");
        Files.write(f, new byte[] {
            '{', '"', 't', 'e', 'x', 't', '"', ':', '"', 'a', '"', '}', '\n', '{', '"', (byte) 0xFF, '"', '}', '\n'
        });
        assertThatThrownBy(() -> TextCorpus.load(f, eosTokenizer))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("line 2")
                .hasMessageContaining("not valid UTF-8");
    }

    @Test
    void plainTextKeepsInvalidUtf8BytesExactly() throws IOException {
        Path f = dir.resolve("raw.txt");
        Files.write(f, new byte[] {'a', (byte) 0xFF, 'b'});
        assertThat(all(TextCorpus.load(f, eosTokenizer).tokens())).containsExactly('a', 0xFF, 'b', 256);
    }
}
