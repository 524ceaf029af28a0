package fulgur.serve.engine;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class TextStreamTest {
    private final Tokenizer tok = ByteTokenizer.withEndOfText();

    private static int[] bytes(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[b.length];
        for (int i = 0; i < b.length; i++) {
            ids[i] = b[i] & 0xFF;
        }
        return ids;
    }

    @Test
    void multiByteCharactersWaitForTheirLastByte() {
        TextStream t = new TextStream(tok, List.of());
        int[] ids = bytes("aé€");
        assertThat(t.add(ids[0])).isEqualTo("a");
        assertThat(t.add(ids[1])).isEmpty();
        assertThat(t.add(ids[2])).isEqualTo("é");
        assertThat(t.add(ids[3])).isEmpty();
        assertThat(t.add(ids[4])).isEmpty();
        assertThat(t.add(ids[5])).isEqualTo("€");
        assertThat(t.add(bytes("x")[0])).isEqualTo("x");
        assertThat(t.add(ids[1])).isEmpty();
        assertThat(t.flush())
                .as("an unfinished character is dropped at the end")
                .isEmpty();
    }

    @Test
    void textThatMayStartAStopStringIsHeldUntilItCannot() {
        TextStream t = new TextStream(tok, List.of("END", "<x>"));
        StringBuilder out = new StringBuilder();
        for (int id : bytes("abE")) {
            out.append(t.add(id));
        }
        assertThat(out.toString()).isEqualTo("ab");
        out.append(t.add(bytes("N")[0]));
        assertThat(out.toString()).isEqualTo("ab");
        out.append(t.add(bytes("d")[0])); // "ENd" is no stop: released
        assertThat(out.toString()).isEqualTo("abENd");
        for (int id : bytes("q<x")) {
            out.append(t.add(id));
        }
        assertThat(out.toString()).isEqualTo("abENdq");
        out.append(t.add(bytes(">")[0]));
        assertThat(t.stopped()).isTrue();
        assertThat(out.toString()).isEqualTo("abENdq");
    }

    @Test
    void theEarliestStopStringWinsAndHeldTextIsFlushedAtTheEnd() {
        TextStream t = new TextStream(tok, List.of("cd", "bcde"));
        StringBuilder out = new StringBuilder();
        for (int id : bytes("abcd")) {
            out.append(t.add(id));
            if (t.stopped()) {
                break;
            }
        }
        assertThat(t.stopped()).isTrue();
        assertThat(out.toString()).isEqualTo("ab");
        TextStream u = new TextStream(tok, List.of("xyz"));
        assertThat(u.add(bytes("a")[0]) + u.add(bytes("x")[0]) + u.add(bytes("y")[0]))
                .isEqualTo("a");
        assertThat(u.flush()).isEqualTo("xy");
    }
}
