package fulgur.serve.engine;

import fulgur.tokenizer.Tokenizer;
import java.util.Arrays;
import java.util.List;

/**
 * The text of one request's generated tokens, released as it becomes final. Tokens are decoded incrementally over a
 * short window (the previous token as context, as Hugging Face's incremental detokenizers do, so decoders that treat
 * a sequence's start specially stay right); a multi-byte character split across tokens waits for its last byte. With
 * stop strings, text that could still be the start of one is held back until it cannot; once a stop string appears,
 * the text before it is released and the stream reports {@link #stopped}.
 */
final class TextStream {
    private final Tokenizer tok;
    private final List<String> stops;
    private int[] ids = new int[16];
    private int count;
    private int prefixOffset;
    private int readOffset;
    private final StringBuilder held = new StringBuilder();
    private boolean stopped;

    TextStream(Tokenizer tok, List<String> stops) {
        this.tok = tok;
        this.stops = stops.stream().filter(s -> !s.isEmpty()).toList();
    }

    /** Adds a generated token; returns the text it releases (often all of its own, empty while text is held). */
    String add(int token) {
        if (stopped) {
            throw new IllegalStateException("TextStream: a stop string already ended the text");
        }
        if (count == ids.length) {
            ids = Arrays.copyOf(ids, count * 2);
        }
        ids[count++] = token;
        String before = tok.decode(Arrays.copyOfRange(ids, prefixOffset, readOffset));
        String after = tok.decode(Arrays.copyOfRange(ids, prefixOffset, count));
        if (after.length() > before.length() && !after.endsWith("\uFFFD")) {
            held.append(after, before.length(), after.length());
            prefixOffset = readOffset;
            readOffset = count;
        }
        if (stops.isEmpty()) {
            return take(held.length());
        }
        int cut = firstStop();
        if (cut >= 0) {
            stopped = true;
            String out = held.substring(0, cut);
            held.setLength(0);
            return out;
        }
        return take(held.length() - openStopPrefix());
    }

    /** Whether a stop string appeared. */
    boolean stopped() {
        return stopped;
    }

    /** The held-back text, released at the end of the request (an unfinished multi-byte character is dropped). */
    String flush() {
        return take(held.length());
    }

    private String take(int n) {
        String out = held.substring(0, n);
        held.delete(0, n);
        return out;
    }

    private int firstStop() {
        int best = -1;
        for (String s : stops) {
            int i = held.indexOf(s);
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }

    /** Length of the longest end of the held text that begins some stop string. */
    private int openStopPrefix() {
        int best = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, held.length()); k > best; k--) {
                if (endsWith(held, s, k)) {
                    best = k;
                    break;
                }
            }
        }
        return best;
    }

    /** Whether {@code text} ends with the first k characters of s. */
    private static boolean endsWith(CharSequence text, String s, int k) {
        int off = text.length() - k;
        for (int i = 0; i < k; i++) {
            if (text.charAt(off + i) != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
