package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.MalformedFileException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Token ids size an array: an absurd one is refused before it exhausts memory or wraps around. */
class TokenizerIdBoundsTest {

    @TempDir
    Path dir;

    private Path withVocabId(String name, long id) throws Exception {
        ObjectNode root = TinyTokenizers.byteLevel(List.of(), false, List.of());
        ((ObjectNode) root.get("model").get("vocab")).put("zz", id);
        return TinyTokenizers.write(dir, name, root);
    }

    @Test
    void vocabularyIdsBeyondTheBoundAreRefused() throws Exception {
        for (long id : new long[] {2_000_000_000L, Integer.MAX_VALUE, HfTokenizer.MAX_VOCAB, 1L << 40}) {
            Path f = withVocabId("t" + id + ".json", id);
            assertThatThrownBy(() -> HfTokenizer.fromJson(f))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessage(
                            f + ": model.vocab: token \"zz\" has id " + id + ", expected an integer in [0, 16777216)");
        }
        assertThat(HfTokenizer.fromJson(withVocabId("ok.json", HfTokenizer.MAX_VOCAB - 1))
                        .vocabSize())
                .isEqualTo(HfTokenizer.MAX_VOCAB);
    }

    @Test
    void addedTokenIdsMustBeWholeAndBounded() throws Exception {
        for (String id : new String[] {"32.5", "2147483647", "-1", "\"7\""}) {
            ObjectNode root = TinyTokenizers.byteLevel(List.of(), false, List.of());
            root.withArray("added_tokens").addObject().put("content", "<x>").set("id", fulgur.io.Json.parse(id, "id"));
            Path f = TinyTokenizers.write(dir, "added" + id.hashCode() + ".json", root);
            assertThatThrownBy(() -> HfTokenizer.fromJson(f))
                    .isInstanceOf(MalformedFileException.class)
                    .hasMessageContaining("added_tokens[0] needs an integer \"id\" in [0, 16777216)");
        }
    }
}
