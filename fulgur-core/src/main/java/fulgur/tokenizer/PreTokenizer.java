package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face pre-tokenizer: splits text into pieces (words) that the model tokenizes independently, and may
 * rewrite them (ByteLevel maps bytes to characters). Each works on the current list of pieces.
 */
sealed interface PreTokenizer {

    /** GPT-2's split pattern, used by the ByteLevel pre-tokenizer when {@code use_regex} is true. */
    String GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    /**
     * Splits and rewrites {@code pieces}; {@code atStart} is true when the first piece starts at offset 0 of the
     * input text (for Metaspace's {@code prepend_scheme: "first"}).
     */
    List<String> apply(List<String> pieces, boolean atStart);

    /** The Hugging Face SplitDelimiterBehavior. */
    enum Behavior {
        REMOVED,
        ISOLATED,
        MERGED_WITH_PREVIOUS,
        MERGED_WITH_NEXT,
        CONTIGUOUS
    }

    /** GPT-2 byte-level: optional prefix space, optional GPT-2 split, then bytes to characters. */
    record ByteLevelSplit(boolean addPrefixSpace, boolean useRegex) implements PreTokenizer {
        private static final Pattern GPT2 = OnigRegex.compile(GPT2_PATTERN, "GPT-2 pattern");

        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>(pieces.size() * 2);
            for (String p : pieces) {
                String s = addPrefixSpace && !p.startsWith(" ") ? " " + p : p;
                if (useRegex) {
                    Matcher m = GPT2.matcher(s);
                    int prev = 0;
                    while (m.find()) {
                        if (m.start() > prev) {
                            out.add(Utf8.toByteLevel(s, prev, m.start()));
                        }
                        if (m.end() > m.start()) {
                            out.add(Utf8.toByteLevel(s, m.start(), m.end()));
                        }
                        prev = m.end();
                    }
                    if (prev < s.length()) {
                        out.add(Utf8.toByteLevel(s, prev, s.length()));
                    }
                } else if (!s.isEmpty()) {
                    out.add(Utf8.toByteLevel(s, 0, s.length()));
                }
            }
            return out;
        }
    }

    /** Splits on a pattern with a delimiter behavior; {@code invert} swaps matches and non-matches. */
    record Split(Pattern pattern, Behavior behavior, boolean invert) implements PreTokenizer {
        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            for (String p : pieces) {
                split(p, pattern, behavior, invert, out);
            }
            return out;
        }
    }

    /** Isolates digits: each digit alone, or runs of digits. */
    record Digits(boolean individual) implements PreTokenizer {
        private static final Pattern DIGIT = Pattern.compile("[\\p{Nd}\\p{Nl}\\p{No}]");

        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>(pieces.size() * 2);
            for (String p : pieces) {
                split(p, DIGIT, individual ? Behavior.ISOLATED : Behavior.CONTIGUOUS, false, out);
            }
            return out;
        }
    }

    /** SentencePiece-style: spaces become the replacement character, optionally prepended, and split before it. */
    record Metaspace(String replacement, String prependScheme, boolean split) implements PreTokenizer {
        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>();
            Pattern delimiter = Pattern.compile(Pattern.quote(replacement));
            for (int i = 0; i < pieces.size(); i++) {
                String s = pieces.get(i).replace(" ", replacement);
                boolean prepend = switch (prependScheme) {
                    case "always" -> true;
                    case "first" -> atStart && i == 0;
                    default -> false;
                };
                if (prepend && !s.startsWith(replacement)) {
                    s = replacement + s;
                }
                if (split) {
                    PreTokenizer.split(s, delimiter, Behavior.MERGED_WITH_NEXT, false, out);
                } else if (!s.isEmpty()) {
                    out.add(s);
                }
            }
            return out;
        }
    }

    /** Splits on whitespace (dropped) and isolates punctuation: BERT's pre-tokenizer. */
    record Bert() implements PreTokenizer {
        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> words = new WhitespaceSplit().apply(pieces, atStart);
            return new Punctuation(Behavior.ISOLATED).apply(words, atStart);
        }
    }

    /** Splits on Unicode whitespace, which is dropped. */
    record WhitespaceSplit() implements PreTokenizer {
        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            for (String p : pieces) {
                int i = 0;
                while (i < p.length()) {
                    while (i < p.length() && Normalizer.Bert.isWhitespace(p.codePointAt(i))) {
                        i += Character.charCount(p.codePointAt(i));
                    }
                    int start = i;
                    while (i < p.length() && !Normalizer.Bert.isWhitespace(p.codePointAt(i))) {
                        i += Character.charCount(p.codePointAt(i));
                    }
                    if (i > start) {
                        out.add(p.substring(start, i));
                    }
                }
            }
            return out;
        }
    }

    /** Splits off punctuation (ASCII punctuation and Unicode categories P*) with a delimiter behavior. */
    record Punctuation(Behavior behavior) implements PreTokenizer {
        private static final Pattern PUNCT = Pattern.compile("[\\p{P}!-/:-@\\[-`{-~]");

        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>(pieces.size() * 2);
            for (String p : pieces) {
                split(p, PUNCT, behavior, false, out);
            }
            return out;
        }
    }

    /** {@code tokenizers}' Whitespace pre-tokenizer: runs of word characters or of other non-space characters. */
    record Whitespace() implements PreTokenizer {
        private static final Pattern WORDS = Pattern.compile(
                "[\\p{L}\\p{N}\\p{Mn}\\p{Mc}\\p{Me}\\p{Pc}]+|[^\\p{L}\\p{N}\\p{Mn}\\p{Mc}\\p{Me}\\p{Pc}\\s]+",
                Pattern.UNICODE_CHARACTER_CLASS);

        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            List<String> out = new ArrayList<>(pieces.size() * 4);
            for (String p : pieces) {
                Matcher m = WORDS.matcher(p);
                while (m.find()) {
                    out.add(m.group());
                }
            }
            return out;
        }
    }

    record Sequence(List<PreTokenizer> steps) implements PreTokenizer {
        @Override
        public List<String> apply(List<String> pieces, boolean atStart) {
            for (PreTokenizer p : steps) {
                pieces = p.apply(pieces, atStart);
            }
            return pieces;
        }
    }

    /** Hugging Face's split of one string by a pattern's matches, per delimiter behavior; empty pieces dropped. */
    static void split(String s, Pattern pattern, Behavior behavior, boolean invert, List<String> out) {
        if (s.isEmpty()) {
            return;
        }
        // (start, end, isMatch) triples covering s
        List<int[]> parts = new ArrayList<>();
        Matcher m = pattern.matcher(s);
        int prev = 0;
        while (m.find()) {
            if (m.end() == m.start()) {
                continue;
            }
            if (m.start() > prev) {
                parts.add(new int[] {prev, m.start(), invert ? 1 : 0});
            }
            parts.add(new int[] {m.start(), m.end(), invert ? 0 : 1});
            prev = m.end();
        }
        if (prev < s.length()) {
            parts.add(new int[] {prev, s.length(), invert ? 1 : 0});
        }
        List<int[]> merged = new ArrayList<>(parts.size());
        switch (behavior) {
            case ISOLATED -> merged.addAll(parts);
            case REMOVED -> {
                for (int[] p : parts) {
                    if (p[2] == 0) {
                        merged.add(p);
                    }
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                boolean previousMatch = false;
                for (int[] p : parts) {
                    if (p[2] == 1 && !previousMatch && !merged.isEmpty()) {
                        merged.getLast()[1] = p[1];
                    } else {
                        merged.add(new int[] {p[0], p[1], 0});
                    }
                    previousMatch = p[2] == 1;
                }
            }
            case MERGED_WITH_NEXT -> {
                boolean previousMatch = false;
                for (int k = parts.size() - 1; k >= 0; k--) {
                    int[] p = parts.get(k);
                    if (p[2] == 1 && !previousMatch && !merged.isEmpty()) {
                        merged.getLast()[0] = p[0];
                    } else {
                        merged.add(new int[] {p[0], p[1], 0});
                    }
                    previousMatch = p[2] == 1;
                }
                java.util.Collections.reverse(merged);
            }
            case CONTIGUOUS -> {
                int previousMatch = -1;
                for (int[] p : parts) {
                    if (p[2] == previousMatch && !merged.isEmpty()) {
                        merged.getLast()[1] = p[1];
                    } else {
                        merged.add(new int[] {p[0], p[1], 0});
                    }
                    previousMatch = p[2];
                }
            }
        }
        for (int[] p : merged) {
            if (p[1] > p[0]) {
                out.add(s.substring(p[0], p[1]));
            }
        }
    }

    /** Parses a tokenizer.json {@code pre_tokenizer} node; {@code null} for none. */
    static PreTokenizer parse(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, "pre_tokenizer");
        return switch (type) {
            case "ByteLevel" ->
                new ByteLevelSplit(
                        node.path("add_prefix_space").asBoolean(false),
                        node.path("use_regex").asBoolean(true));
            case "Split" ->
                new Split(
                        ctx.pattern(node.get("pattern"), "pre_tokenizer Split"),
                        behavior(node, ctx),
                        node.path("invert").asBoolean(false));
            case "Digits" -> new Digits(node.path("individual_digits").asBoolean(false));
            case "Metaspace" ->
                new Metaspace(
                        metaspaceReplacement(node, ctx),
                        prependScheme(node, ctx),
                        node.path("split").asBoolean(true));
            case "BertPreTokenizer" -> new Bert();
            case "WhitespaceSplit" -> new WhitespaceSplit();
            case "Whitespace" -> new Whitespace();
            case "Punctuation" ->
                new Punctuation(node.hasNonNull("behavior") ? behavior(node, ctx) : Behavior.ISOLATED);
            case "Sequence" -> {
                List<PreTokenizer> steps = new ArrayList<>();
                for (JsonNode child : ctx.array(node, "pretokenizers", "pre_tokenizer Sequence")) {
                    PreTokenizer p = parse(child, ctx);
                    if (p != null) {
                        steps.add(p);
                    }
                }
                yield new Sequence(List.copyOf(steps));
            }
            default ->
                throw ctx.unsupported(
                        "pre_tokenizer type \"" + type + "\"",
                        "ByteLevel, Split, Digits, Metaspace, BertPreTokenizer, Whitespace, WhitespaceSplit, Punctuation, Sequence");
        };
    }

    private static Behavior behavior(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        String b = ctx.string(node, "behavior", "pre_tokenizer Split");
        return switch (b) {
            case "Removed" -> Behavior.REMOVED;
            case "Isolated" -> Behavior.ISOLATED;
            case "MergedWithPrevious" -> Behavior.MERGED_WITH_PREVIOUS;
            case "MergedWithNext" -> Behavior.MERGED_WITH_NEXT;
            case "Contiguous" -> Behavior.CONTIGUOUS;
            default ->
                throw ctx.malformed("pre_tokenizer Split has unknown behavior \"" + b
                        + "\", expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
        };
    }

    static String metaspaceReplacement(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        JsonNode r = node.get("replacement");
        if (r == null) {
            return "\u2581";
        }
        if (!r.isTextual() || r.asText().codePointCount(0, r.asText().length()) != 1) {
            throw ctx.malformed("Metaspace \"replacement\" must be a one-character string, found " + r);
        }
        return r.asText();
    }

    static String prependScheme(JsonNode node, TokenizerJson ctx) throws fulgur.io.MalformedFileException {
        JsonNode scheme = node.get("prepend_scheme");
        if (scheme != null && !scheme.isNull()) {
            String s = scheme.asText();
            if (!s.equals("always") && !s.equals("first") && !s.equals("never")) {
                throw ctx.malformed(
                        "Metaspace has unknown prepend_scheme \"" + s + "\", expected always, first or never");
            }
            return s;
        }
        return node.path("add_prefix_space").asBoolean(true) ? "always" : "never";
    }
}
