package fulgur.tokenizer;

/**
 * UTF-8 with "surrogate escapes" (as Python's {@code surrogateescape}): a byte that is not part of well-formed UTF-8
 * is decoded to the lone surrogate U+DC80..U+DCFF standing for it, and encoded back to that byte. Text pipelines can
 * then carry arbitrary bytes as a {@code String} and give them back exactly.
 */
final class Utf8 {

    private static final byte[] REPLACEMENT = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};

    private Utf8() {}

    /** Decodes bytes; ill-formed bytes become U+DC80 + (byte - 0x80). */
    static String decodeEscaped(byte[] b) {
        StringBuilder out = new StringBuilder(b.length);
        int i = 0;
        while (i < b.length) {
            int len = validSequenceLength(b, i);
            if (len == 0) {
                out.append((char) (0xDC00 | (b[i] & 0xFF)));
                i++;
            } else if (len == 1) {
                out.append((char) b[i]);
                i++;
            } else {
                out.append(new String(b, i, len, java.nio.charset.StandardCharsets.UTF_8));
                i += len;
            }
        }
        return out.toString();
    }

    /** Whether {@code c} is an escaped byte. */
    static boolean isEscape(int c) {
        return c >= 0xDC80 && c <= 0xDCFF;
    }

    /**
     * Encodes text; an escaped byte (a lone U+DC80..U+DCFF) becomes that byte, any other lone surrogate becomes
     * U+FFFD's encoding.
     */
    static byte[] encodeEscaped(CharSequence s) {
        int n = s.length();
        byte[] out = new byte[n * 3];
        int k = 0;
        for (int i = 0; i < n; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                out[k++] = (byte) c;
            } else if (c < 0x800) {
                out[k++] = (byte) (0xC0 | (c >> 6));
                out[k++] = (byte) (0x80 | (c & 0x3F));
            } else if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                out[k++] = (byte) (0xF0 | (cp >> 18));
                out[k++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                out[k++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                out[k++] = (byte) (0x80 | (cp & 0x3F));
            } else if (isEscape(c)) {
                out[k++] = (byte) c;
            } else if (Character.isSurrogate(c)) {
                out[k++] = REPLACEMENT[0];
                out[k++] = REPLACEMENT[1];
                out[k++] = REPLACEMENT[2];
            } else {
                out[k++] = (byte) (0xE0 | (c >> 12));
                out[k++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                out[k++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        return java.util.Arrays.copyOf(out, k);
    }

    /**
     * The byte-level string of {@code s[from, to)}: its escaped UTF-8 bytes, each mapped to its {@link ByteLevel}
     * character, in one pass.
     */
    static String toByteLevel(CharSequence s, int from, int to) {
        char[] out = new char[(to - from) * 4];
        int k = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                out[k++] = ByteLevel.charOf(c);
            } else if (c < 0x800) {
                out[k++] = ByteLevel.charOf(0xC0 | (c >> 6));
                out[k++] = ByteLevel.charOf(0x80 | (c & 0x3F));
            } else if (Character.isHighSurrogate(c) && i + 1 < to && Character.isLowSurrogate(s.charAt(i + 1))) {
                int cp = Character.toCodePoint(c, s.charAt(++i));
                out[k++] = ByteLevel.charOf(0xF0 | (cp >> 18));
                out[k++] = ByteLevel.charOf(0x80 | ((cp >> 12) & 0x3F));
                out[k++] = ByteLevel.charOf(0x80 | ((cp >> 6) & 0x3F));
                out[k++] = ByteLevel.charOf(0x80 | (cp & 0x3F));
            } else if (isEscape(c)) {
                out[k++] = ByteLevel.charOf(c & 0xFF);
            } else if (Character.isSurrogate(c)) {
                out[k++] = ByteLevel.charOf(REPLACEMENT[0]);
                out[k++] = ByteLevel.charOf(REPLACEMENT[1]);
                out[k++] = ByteLevel.charOf(REPLACEMENT[2]);
            } else {
                out[k++] = ByteLevel.charOf(0xE0 | (c >> 12));
                out[k++] = ByteLevel.charOf(0x80 | ((c >> 6) & 0x3F));
                out[k++] = ByteLevel.charOf(0x80 | (c & 0x3F));
            }
        }
        return new String(out, 0, k);
    }

    /** Encodes one code point (an escaped byte gives that byte). */
    static byte[] encodeEscaped(int cp) {
        return encodeEscaped(new String(Character.toChars(cp)));
    }

    /** Length of the well-formed UTF-8 sequence starting at {@code i}, or 0 if the byte there does not start one. */
    static int validSequenceLength(byte[] b, int i) {
        int c = b[i] & 0xFF;
        if (c < 0x80) {
            return 1;
        }
        int len;
        int lo = 0x80;
        int hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) {
                lo = 0xA0;
            } else if (c == 0xED) {
                hi = 0x9F;
            }
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) {
                lo = 0x90;
            } else if (c == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return 0;
        }
        if (i + len > b.length) {
            return 0;
        }
        int c1 = b[i + 1] & 0xFF;
        if (c1 < lo || c1 > hi) {
            return 0;
        }
        for (int k = 2; k < len; k++) {
            int ck = b[i + k] & 0xFF;
            if (ck < 0x80 || ck > 0xBF) {
                return 0;
            }
        }
        return len;
    }
}
