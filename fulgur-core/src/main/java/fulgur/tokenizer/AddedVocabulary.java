package fulgur.tokenizer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Tokens matched whole in the raw text before any other processing (Hugging Face's "added tokens"): special tokens
 * such as {@code <|endoftext|>} and user-added words. Matching is leftmost-longest; {@code lstrip}/{@code rstrip}
 * swallow whitespace on that side, {@code single_word} only matches outside words.
 */
final class AddedVocabulary {

    /** One added token as tokenizer.json describes it. */
    record AddedToken(int id, String content, boolean special, boolean singleWord, boolean lstrip, boolean rstrip) {}

    /** A piece of split text: plain text to tokenize, or an added token's id. */
    sealed interface Segment {
        /** Plain text; {@code atStart} when it begins at offset 0 of the input. */
        record Text(String text, boolean atStart) implements Segment {}

        record Token(int id) implements Segment {}
    }

    private static final class Node {
        final Map<Character, Node> next = new HashMap<>(4);
        AddedToken token;
    }

    private final Node root = new Node();
    private final boolean[] firstChar = new boolean[Character.MAX_VALUE + 1];
    private final Map<String, AddedToken> byContent = new LinkedHashMap<>();
    private final Map<Integer, AddedToken> byId = new HashMap<>();

    AddedVocabulary(List<AddedToken> tokens) {
        for (AddedToken t : tokens) {
            if (t.content().isEmpty()) {
                throw new IllegalArgumentException("added token " + t.id() + " has empty content");
            }
            byContent.put(t.content(), t);
            byId.put(t.id(), t);
            firstChar[t.content().charAt(0)] = true;
            Node n = root;
            for (int i = 0; i < t.content().length(); i++) {
                n = n.next.computeIfAbsent(t.content().charAt(i), c -> new Node());
            }
            n.token = t;
        }
    }

    boolean isEmpty() {
        return byContent.isEmpty();
    }

    AddedToken byContent(String content) {
        return byContent.get(content);
    }

    AddedToken byId(int id) {
        return byId.get(id);
    }

    Map<String, AddedToken> all() {
        return Collections.unmodifiableMap(byContent);
    }

    /** Splits {@code text} around added tokens; special ones only when {@code includeSpecial}. */
    List<Segment> split(String text, boolean includeSpecial) {
        List<Segment> out = new ArrayList<>();
        if (byContent.isEmpty()) {
            if (!text.isEmpty()) {
                out.add(new Segment.Text(text, true));
            }
            return out;
        }
        int n = text.length();
        int segStart = 0;
        int pos = 0;
        while (pos < n) {
            if (!firstChar[text.charAt(pos)]) {
                pos++;
                continue;
            }
            AddedToken match = null;
            int matchEnd = -1;
            Node node = root;
            for (int i = pos; i < n; i++) {
                node = node.next.get(text.charAt(i));
                if (node == null) {
                    break;
                }
                if (node.token != null && (includeSpecial || !node.token.special())) {
                    match = node.token;
                    matchEnd = i + 1;
                }
            }
            if (match == null || (match.singleWord() && !isSingleWord(text, pos, matchEnd))) {
                pos++;
                continue;
            }
            int start = pos;
            int stop = matchEnd;
            if (match.lstrip()) {
                while (start > segStart && isWhitespace(text.charAt(start - 1))) {
                    start--;
                }
            }
            if (match.rstrip()) {
                while (stop < n && isWhitespace(text.charAt(stop))) {
                    stop++;
                }
            }
            if (start > segStart) {
                out.add(new Segment.Text(text.substring(segStart, start), segStart == 0));
            }
            out.add(new Segment.Token(match.id()));
            segStart = stop;
            pos = stop;
        }
        if (segStart < n) {
            out.add(new Segment.Text(text.substring(segStart), segStart == 0));
        }
        return out;
    }

    private static boolean isSingleWord(String text, int start, int end) {
        boolean before = start == 0 || !isWordChar(text.codePointBefore(start));
        boolean after = end == text.length() || !isWordChar(text.codePointAt(end));
        return before && after;
    }

    private static boolean isWordChar(int cp) {
        return Character.isLetterOrDigit(cp) || cp == '_';
    }

    static boolean isWhitespace(int cp) {
        return Character.isWhitespace(cp) || Character.isSpaceChar(cp) || cp == 0x85;
    }
}
