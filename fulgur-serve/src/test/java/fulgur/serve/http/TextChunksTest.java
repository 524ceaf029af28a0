package fulgur.serve.http;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class TextChunksTest {
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
            .build();

    /** What the stream wrote before the templates: the chunk's tree serialised by the mapper. */
    private static String serialised(
            OpenAiJson.Kind kind, String id, String model, int choice, String text, boolean usage) throws Exception {
        return "data: "
                + MAPPER.writeValueAsString(OpenAiJson.textChunk(kind, id, 1_700_000_000L, model, choice, text, usage))
                + "\n\n";
    }

    private static List<String> texts() {
        List<String> t = new ArrayList<>(List.of(
                "",
                "Hello",
                " world",
                "\"quoted\"",
                "back\\slash",
                "tab\tnew\nline\rcr\bbs\fff",
                "\u0000\u0001\u001f",
                "\u007f",
                "é",
                "日本語",
                "😀",
                "\uD83D",
                "\uDE00",
                "a\uD83Db",
                "\u2028\u2029",
                "</script>",
                "\uE000text\uE001"));
        StringBuilder every = new StringBuilder();
        for (char c = 0; c < 0x3000; c++) {
            every.append(c);
        }
        t.add(every.toString());
        Random r = new Random(7);
        for (int i = 0; i < 200; i++) {
            StringBuilder s = new StringBuilder();
            for (int n = r.nextInt(12); n > 0; n--) {
                s.append((char) (r.nextInt(4) == 0 ? r.nextInt(0x10000) : r.nextInt(0x80)));
            }
            t.add(s.toString());
        }
        return t;
    }

    @Test
    void everyPieceIsByteForByteTheSerialisedChunk() throws Exception {
        for (OpenAiJson.Kind kind : OpenAiJson.Kind.values()) {
            for (boolean usage : new boolean[] {false, true}) {
                for (String model : List.of("tnl-128x2", "a \"quoted\" \\ model ✓")) {
                    String id = kind.idPrefix + "0123456789abcdef0123456789abcdef";
                    TextChunks chunks = new TextChunks(kind, id, 1_700_000_000L, model, 3, usage, MAPPER);
                    for (String text : texts()) {
                        for (int choice = 0; choice < 3; choice++) {
                            StringBuilder sb = new StringBuilder("before|");
                            chunks.append(sb, choice, text);
                            assertThat(sb.toString())
                                    .as("%s %s %s %d %s", kind, usage, model, choice, text)
                                    .isEqualTo("before|" + serialised(kind, id, model, choice, text, usage));
                        }
                    }
                }
            }
        }
    }

    @Test
    void aModelNamedLikeTheMarkerStillGetsItsOwnText() throws Exception {
        String model = "m\uE000text\uE001";
        TextChunks chunks = new TextChunks(OpenAiJson.Kind.TEXT, "cmpl-x", 1_700_000_000L, model, 1, false, MAPPER);
        StringBuilder sb = new StringBuilder();
        chunks.append(sb, 0, "piece");
        chunks.append(sb, 0, "\uE000text\uE001");
        assertThat(sb.toString())
                .isEqualTo(serialised(OpenAiJson.Kind.TEXT, "cmpl-x", model, 0, "piece", false)
                        + serialised(OpenAiJson.Kind.TEXT, "cmpl-x", model, 0, "\uE000text\uE001", false));
    }
}
