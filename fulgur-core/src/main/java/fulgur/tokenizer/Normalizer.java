package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A Hugging Face normalizer: rewrites text before pre-tokenization. */
sealed interface Normalizer
        permits Normalizer.Unicode,
                Normalizer.Lowercase,
                Normalizer.Prepend,
                Normalizer.Replace,
                Normalizer.Strip,
                Normalizer.Bert,
                Normalizer.StripAccents,
                Normalizer.Sequence,
                Precompiled {

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
            return lowercase(s);
        }
    }

    /**
     * Lowercase character by character, as Rust's {@code char::to_lowercase} (which {@code tokenizers} uses): without
     * the context rules of {@link String#toLowerCase}, so a word-final capital sigma becomes σ, not ς.
     */
    static String lowercase(String s) {
        StringBuilder b = new StringBuilder(s.length());
        s.codePoints().forEach(c -> {
            if (c < 0x80) {
                b.append((char) (c >= 'A' && c <= 'Z' ? c + 32 : c));
            } else {
                b.append(Character.toString(c).toLowerCase(Locale.ROOT));
            }
        });
        return b.toString();
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

    /**
     * BERT's normalizer: control characters dropped and whitespace made a space ({@code clean_text}), CJK ideographs
     * padded with spaces, accents stripped (NFD, marks removed) and lowercase, each as {@code tokenizers} does it.
     */
    record Bert(boolean cleanText, boolean chineseChars, boolean stripAccents, boolean lowercase)
            implements Normalizer {
        @Override
        public String normalize(String s) {
            StringBuilder b = new StringBuilder(s.length() + 8);
            s.codePoints().forEach(c -> {
                if (cleanText && (c == 0 || c == 0xFFFD || isOther(c))) {
                    return;
                }
                if (cleanText && isWhitespace(c)) {
                    b.append(' ');
                } else if (chineseChars && isChinese(c)) {
                    b.append(' ').appendCodePoint(c).append(' ');
                } else {
                    b.appendCodePoint(c);
                }
            });
            String out = b.toString();
            if (stripAccents) {
                out = new StripAccents().normalize(out);
            }
            return lowercase ? Normalizer.lowercase(out) : out;
        }

        /** Unicode White_Space, with tab, newline and carriage return (Rust's {@code char::is_whitespace}). */
        static boolean isWhitespace(int c) {
            return (c >= 0x09 && c <= 0x0D)
                    || c == 0x20
                    || c == 0x85
                    || c == 0xA0
                    || c == 0x1680
                    || (c >= 0x2000 && c <= 0x200A)
                    || c == 0x2028
                    || c == 0x2029
                    || c == 0x202F
                    || c == 0x205F
                    || c == 0x3000;
        }

        /** Categories Cc, Cf, Cn, Co and Cs, except tab, newline and carriage return (counted as whitespace). */
        static boolean isOther(int c) {
            if (c == '\t' || c == '\n' || c == '\r') {
                return false;
            }
            int t = Character.getType(c);
            return t == Character.CONTROL
                    || t == Character.FORMAT
                    || t == Character.UNASSIGNED
                    || t == Character.PRIVATE_USE
                    || t == Character.SURROGATE;
        }

        static boolean isChinese(int c) {
            return (c >= 0x4E00 && c <= 0x9FFF)
                    || (c >= 0x3400 && c <= 0x4DBF)
                    || (c >= 0x20000 && c <= 0x2A6DF)
                    || (c >= 0x2A700 && c <= 0x2B73F)
                    || (c >= 0x2B740 && c <= 0x2B81F)
                    || (c >= 0x2B920 && c <= 0x2CEAF)
                    || (c >= 0xF900 && c <= 0xFAFF)
                    || (c >= 0x2F800 && c <= 0x2FA1F);
        }
    }

    /** Removes combining marks (category Mn); used after NFD. */
    record StripAccents() implements Normalizer {
        @Override
        public String normalize(String s) {
            StringBuilder b = new StringBuilder(s.length());
            java.text.Normalizer.normalize(s, java.text.Normalizer.Form.NFD)
                    .codePoints()
                    .filter(c -> Character.getType(c) != Character.NON_SPACING_MARK)
                    .forEach(b::appendCodePoint);
            return b.toString();
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
            case "Replace" ->
                new Replace(
                        ctx.pattern(node.get("pattern"), "normalizer Replace"),
                        ctx.string(node, "content", "normalizer Replace"));
            case "BertNormalizer" -> {
                boolean lower = node.path("lowercase").asBoolean(true);
                JsonNode strip = node.get("strip_accents");
                yield new Bert(
                        node.path("clean_text").asBoolean(true),
                        node.path("handle_chinese_chars").asBoolean(true),
                        strip == null || strip.isNull() ? lower : strip.asBoolean(),
                        lower);
            }
            case "StripAccents" -> new StripAccents();
            case "Precompiled" -> Precompiled.parse(node, ctx);
            case "Strip" ->
                new Strip(
                        node.path("strip_left").asBoolean(true),
                        node.path("strip_right").asBoolean(true));
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
            default ->
                throw ctx.unsupported(
                        "normalizer type \"" + type + "\"",
                        "NFC, NFD, NFKC, NFKD, Lowercase, Prepend, Replace, Strip, BertNormalizer, StripAccents, Precompiled, Sequence");
        };
    }
}
