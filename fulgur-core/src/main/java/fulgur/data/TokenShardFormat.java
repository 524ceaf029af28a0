package fulgur.data;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * The token shard file layout (all little-endian): a 32-byte header, then {@code count} tokens of
 * {@code tokenBytes} bytes each (unsigned 16-bit or signed 32-bit, non-negative).
 *
 * <pre>
 * offset size field
 *      0    4 magic "FGTK"
 *      4    4 version (1)
 *      8    4 tokenBytes (2 or 4)
 *     12    4 vocabSize (0 if not recorded; else every token is below it)
 *     16    8 count (number of tokens)
 *     24    8 reserved (0)
 * </pre>
 */
final class TokenShardFormat {

    static final int MAGIC = 'F' | 'G' << 8 | 'T' << 16 | 'K' << 24;
    static final int VERSION = 1;
    static final int HEADER_BYTES = 32;
    static final String EXTENSION = ".fgtk";

    private TokenShardFormat() {}

    static ByteBuffer header(int tokenBytes, int vocabSize, long count) {
        ByteBuffer b = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(MAGIC)
                .putInt(VERSION)
                .putInt(tokenBytes)
                .putInt(vocabSize)
                .putLong(count)
                .putLong(0);
        return b.flip();
    }

    static int widthFor(int vocabSize) {
        return vocabSize > 0 && vocabSize <= 65536 ? 2 : 4;
    }
}
