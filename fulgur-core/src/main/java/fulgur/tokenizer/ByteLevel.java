package fulgur.tokenizer;

/**
 * GPT-2's reversible map between bytes and printable Unicode characters, used by byte-level BPE so that every byte
 * sequence is a string of visible characters: printable Latin-1 bytes map to themselves, the other 68 bytes to
 * U+0100 onwards (space becomes {@code Ġ}, newline {@code Ċ}).
 */
public final class ByteLevel {

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final short[] CHAR_TO_BYTE = new short[0x200];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, (short) -1);
        boolean[] direct = new boolean[256];
        for (int b = '!'; b <= '~'; b++) {
            direct[b] = true;
        }
        for (int b = 0xA1; b <= 0xAC; b++) {
            direct[b] = true;
        }
        for (int b = 0xAE; b <= 0xFF; b++) {
            direct[b] = true;
        }
        int n = 0;
        for (int b = 0; b < 256; b++) {
            char c = direct[b] ? (char) b : (char) (256 + n++);
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = (short) b;
        }
    }

    private ByteLevel() {}

    /**
     * The character standing for byte {@code b} (0..255).
     *
     * @param b a byte, 0..255 (higher bits ignored)
     * @return its character
     */
    public static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /**
     * The byte a character stands for, or -1 if it is not one of the 256 byte characters.
     *
     * @param c a character
     * @return the byte, or -1
     */
    public static int byteOf(int c) {
        return c >= 0 && c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /**
     * Maps bytes {@code [from, to)} to their characters.
     *
     * @param bytes the bytes
     * @param from the first, inclusive
     * @param to the last, exclusive
     * @return one character per byte
     */
    public static String encode(byte[] bytes, int from, int to) {
        char[] out = new char[to - from];
        for (int i = from; i < to; i++) {
            out[i - from] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /**
     * Maps all of {@code bytes} to their characters.
     *
     * @param bytes the bytes
     * @return one character per byte
     */
    public static String encode(byte[] bytes) {
        return encode(bytes, 0, bytes.length);
    }

    /**
     * The bytes {@code s} stands for, or {@code null} if a character of {@code s} is not a byte character (the
     * Hugging Face ByteLevel decoder then uses the token's UTF-8 bytes as they are).
     *
     * @param s byte characters
     * @return the bytes, or null
     */
    public static byte[] decodeOrNull(String s) {
        byte[] out = new byte[s.length()];
        for (int i = 0; i < s.length(); i++) {
            int b = byteOf(s.charAt(i));
            if (b < 0) {
                return null;
            }
            out[i] = (byte) b;
        }
        return out;
    }
}
