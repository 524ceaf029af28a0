package fulgur.tokenizer;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * SentencePiece's precompiled normalization rules ({@code precompiled_charsmap}): a little-endian u32 trie size, a
 * Darts-clone double-array trie over UTF-8 byte strings, then NUL-terminated replacement strings the trie's values
 * point into. SentencePiece takes the longest rule matching a prefix; Hugging Face's {@code Precompiled} normalizer
 * the first (shortest).
 */
final class CharsMap {
    private final int[] units;
    private final byte[] normalized;

    private CharsMap(int[] units, byte[] normalized) {
        this.units = units;
        this.normalized = normalized;
    }

    static CharsMap parse(byte[] blob) {
        if (blob.length <= 4) {
            throw new IllegalArgumentException("precompiled_charsmap of " + blob.length + " bytes is too short");
        }
        ByteBuffer b = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
        long trieBytes = b.getInt() & 0xFFFF_FFFFL;
        if (trieBytes % 4 != 0 || trieBytes > blob.length - 4L) {
            throw new IllegalArgumentException(
                    "precompiled_charsmap: trie size " + trieBytes + " does not fit the " + blob.length + " bytes");
        }
        int[] units = new int[(int) (trieBytes / 4)];
        for (int i = 0; i < units.length; i++) {
            units[i] = b.getInt();
        }
        return new CharsMap(units, Arrays.copyOfRange(blob, 4 + (int) trieBytes, blob.length));
    }

    /** Each rule matching a prefix of {@code s[from..to)}: {length, value}, shortest first (Darts' commonPrefixSearch). */
    List<int[]> prefixes(byte[] s, int from, int to) {
        List<int[]> out = new ArrayList<>(2);
        if (units.length == 0) {
            return out;
        }
        int pos = 0;
        int unit = units[pos];
        pos ^= offset(unit);
        for (int i = from; i < to; i++) {
            int label = s[i] & 0xFF;
            pos ^= label;
            if (pos < 0 || pos >= units.length) {
                return out;
            }
            unit = units[pos];
            if ((unit & ((1 << 31) | 0xFF)) != label) {
                return out;
            }
            pos ^= offset(unit);
            if (((unit >>> 8) & 1) == 1 && pos >= 0 && pos < units.length) {
                out.add(new int[] {i + 1 - from, units[pos] & 0x7FFF_FFFF});
            }
        }
        return out;
    }

    private static int offset(int unit) {
        return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
    }

    /** The replacement string at {@code value} (up to its NUL), as UTF-8 bytes. */
    byte[] replacement(int value) {
        int end = value;
        while (end < normalized.length && normalized[end] != 0) {
            end++;
        }
        return Arrays.copyOfRange(normalized, Math.min(value, normalized.length), end);
    }
}
