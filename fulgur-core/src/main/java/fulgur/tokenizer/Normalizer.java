package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A Hugging Face normalizer: rewrites text before pre-tokenization. */
sealed interface Normalizer {

    String normalize(String s);

    /** Unicode normalization form NFC, NFD, NFKC or NFKD. */
    record Unicode(java.text.Normalizer.Form form) implements Normalizer {
        @Override
        public String normalize(String s) {
            return java.text.Normalizer.normalize(s, form);
        }
    }

    record Lowercase() implements Normalizer {
        @Override
        public String normalize(String s) {
            return s.toLowerCase(Locale.ROOT);
        }
    }

    /** Prepends a string to non-empty text. */
    record Prepend(String prefix) implements Normalizer {
        @Override
        public String normalize(String s) {
            return s.isEmpty() ? s : prefix + s;
        }
    }

    record Replace(Pattern pattern, String content) implements Normalizer {
        @Override
        public String normalize(String s) {
            return pattern.matcher(s).replaceAll(Matcher.quoteReplacement(content));
        }
    }

    /** Removes leading and/or trailing whitespace. */
    record Strip(boolean left, boolean right) implements Normalizer {
        @Override
        public String normalize(String s) {
            int a = 0;
            int b = s.length();
            if (left) {
                while (a < b && AddedVocabulary.isWhitespace(s.codePointAt(a))) {
                    a += Character.charCount(s.codePointAt(a));
                }
            }
            if (right) {
                while (b > a && AddedVocabulary.isWhitespace(s.codePointBefore(b))) {
                    b -= Character.charCount(s.codePointBefore(b));
                }
            }
            return s.substring(a, b);
        }
    }

    record Sequence(List<Normalizer> normalizers) implements Normalizer {
        @Override
        public String normalize(String s) {
            for (Normalizer n : normalizers) {
                s = n.normalize(s);
            }
            return s;
        }
    }

    /** Parses a tokenizer.json {@code normalizer} node; {@code null} for none. */
    static Normalizer parse(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, "normalizer");
        return switch (type) {
            case "NFC" -> new Unicode(java.text.Normalizer.Form.NFC);
            case "NFD" -> new Unicode(java.text.Normalizer.Form.NFD);
            case "NFKC" -> new Unicode(java.text.Normalizer.Form.NFKC);
            case "NFKD" -> new Unicode(java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> new Lowercase();
            case "Prepend" -> new Prepend(ctx.string(node, "prepend", "normalizer Prepend"));
            case "Replace" -> new Replace(ctx.pattern(node.get("pattern"), "normalizer Replace"), ctx.string(node, "content", "normalizer Replace"));
            case "Strip" -> new Strip(node.path("strip_left").asBoolean(true), node.path("strip_right").asBoolean(true));
            case "Sequence" -> {
                List<Normalizer> list = new ArrayList<>();
                for (JsonNode child : ctx.array(node, "normalizers", "normalizer Sequence")) {
                    Normalizer n = parse(child, ctx);
                    if (n != null) {
                        list.add(n);
                    }
                }
                yield new Sequence(List.copyOf(list));
            }
            default -> throw ctx.unsupported("normalizer type \"" + type + "\"",
                    "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, Sequence");
        };
    }
}
