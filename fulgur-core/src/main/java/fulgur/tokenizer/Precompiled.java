package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.charset.StandardCharsets;
import java.text.BreakIterator;
import java.util.Base64;
import java.util.List;

/**
 * Hugging Face's {@code Precompiled} normalizer (SentencePiece rules converted to tokenizer.json): per grapheme
 * cluster, a cluster shorter than 6 bytes is replaced by the rule of its shortest matching prefix if there is one,
 * else each character is by its own rule, as {@code tokenizers} does it.
 */
record Precompiled(CharsMap map) implements Normalizer {

    static Precompiled parse(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        String b64 = ctx.string(node, "precompiled_charsmap", "normalizer Precompiled");
        try {
            return new Precompiled(CharsMap.parse(Base64.getDecoder().decode(b64)));
        } catch (IllegalArgumentException e) {
            throw ctx.malformed("normalizer Precompiled: " + e.getMessage());
        }
    }

    @Override
    public String normalize(String s) {
        StringBuilder out = new StringBuilder(s.length());
        BreakIterator g = BreakIterator.getCharacterInstance();
        g.setText(s);
        int start = g.first();
        for (int end = g.next(); end != BreakIterator.DONE; start = end, end = g.next()) {
            String grapheme = s.substring(start, end);
            byte[] gb = grapheme.getBytes(StandardCharsets.UTF_8);
            if (gb.length < 6) {
                String t = transform(gb);
                if (t != null) {
                    out.append(t);
                    continue;
                }
            }
            for (int i = 0; i < grapheme.length(); ) {
                int cp = grapheme.codePointAt(i);
                String c = grapheme.substring(i, i + Character.charCount(cp));
                String t = transform(c.getBytes(StandardCharsets.UTF_8));
                out.append(t != null ? t : c);
                i += Character.charCount(cp);
            }
        }
        return out.toString();
    }

    private String transform(byte[] chunk) {
        List<int[]> m = map.prefixes(chunk, 0, chunk.length);
        return m.isEmpty() ? null : new String(map.replacement(m.getFirst()[1]), StandardCharsets.UTF_8);
    }
}
