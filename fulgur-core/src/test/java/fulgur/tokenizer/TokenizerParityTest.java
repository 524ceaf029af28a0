package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Parity with the reference libraries: SentencePiece (tokenizer.model, Unigram and BPE, with and without byte
 * fallback) and Hugging Face tokenizers (tokenizer.json, Unigram and WordPiece) encode the same tricky strings to the
 * same ids. The models and the expected ids are made by {@code scripts/tokenizers/make_fixtures.py} with the real
 * libraries and packed into {@code parity-fixtures.zip}.
 */
class TokenizerParityTest {
    static final String FIXTURES = "/fulgur/tokenizer/parity-fixtures.zip";

    @TempDir
    Path dir;

    @Test
    void everyFixtureTokenizerEncodesAsItsReferenceLibrary() throws Exception {
        InputStream zip = TokenizerParityTest.class.getResourceAsStream(FIXTURES);
        Assumptions.assumeTrue(
                zip != null,
                "no " + FIXTURES
                        + ": run scripts/tokenizers/make_fixtures.py where tokenizers and sentencepiece are installed");
        try (ZipInputStream in = new ZipInputStream(zip)) {
            for (ZipEntry e; (e = in.getNextEntry()) != null; ) {
                Path target = dir.resolve(e.getName()).normalize();
                assertThat(target).startsWithRaw(dir);
                Files.createDirectories(target.getParent());
                Files.copy(in, target);
            }
        }
        JsonNode cases = Json.read(dir.resolve("cases.json"));
        List<String> strings = new ArrayList<>();
        cases.get("strings").forEach(s -> strings.add(s.asText()));
        List<String> checked = new ArrayList<>();
        for (var t : cases.get("tokenizers").properties()) {
            String name = t.getKey();
            Tokenizer tok = Tokenizers.load(dir.resolve(t.getValue().get("file").asText()));
            JsonNode ids = t.getValue().get("ids");
            JsonNode decoded = t.getValue().get("decoded");
            for (int i = 0; i < strings.size(); i++) {
                int[] expected = new int[ids.get(i).size()];
                for (int k = 0; k < expected.length; k++) {
                    expected[k] = ids.get(i).get(k).asInt();
                }
                assertThat(tok.encode(strings.get(i)))
                        .as(name + " encoding \"" + strings.get(i) + "\"")
                        .containsExactly(expected);
                if (name.endsWith("-bytes")) {
                    // byte fallback: decoding gives back what the library gives back
                    assertThat(tok.decode(expected))
                            .as(name + " decoding \"" + strings.get(i) + "\"")
                            .isEqualTo(decoded.get(i).asText());
                }
            }
            checked.add(name);
        }
        assertThat(checked)
                .contains(
                        "sp-unigram-nfkc",
                        "sp-bpe-nfkc",
                        "sp-unigram-bytes",
                        "sp-bpe-bytes",
                        "hf-unigram",
                        "hf-wordpiece");
    }
}
