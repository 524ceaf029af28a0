package fulgur.data;

import fulgur.io.MalformedFileException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileChannel.MapMode;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * A memory-mapped token shard: a 32-byte header (magic {@code "FGTK"}, version 1, token width 2 or 4 bytes,
 * vocabulary size or 0, token count) followed by the little-endian tokens. Opening validates the header and the
 * file size; given a vocabulary bound it also checks every token against it. Random access by {@code long} index,
 * bulk copies into {@code int[]}.
 */
public final class TokenShardReader implements TokenStream, AutoCloseable {

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Path path;
    private final Arena arena;
    private final boolean ownsArena;
    private final MemorySegment tokens;
    private final int tokenBytes;
    private final int vocabSize;
    private final long count;

    private TokenShardReader(
            Path path,
            Arena arena,
            boolean ownsArena,
            MemorySegment tokens,
            int tokenBytes,
            int vocabSize,
            long count) {
        this.path = path;
        this.arena = arena;
        this.ownsArena = ownsArena;
        this.tokens = tokens;
        this.tokenBytes = tokenBytes;
        this.vocabSize = vocabSize;
        this.count = count;
    }

    /**
     * Opens and validates a shard; the mapping lives until {@link #close()}.
     *
     * @param path the shard file
     * @return the reader, to close
     * @throws IOException when the file cannot be read or is not a valid shard
     */
    public static TokenShardReader open(Path path) throws IOException {
        return open(path, 0);
    }

    /**
     * Opens a shard and checks that every token is below {@code vocabBound} (a pass over the data; 0 skips it and
     * trusts the writer, which checked each token).
     *
     * @param path the shard file
     * @param vocabBound the exclusive bound on tokens, 0 for no check
     * @return the reader, to close
     * @throws IOException when the file cannot be read, is not a valid shard or holds a token out of bounds
     */
    public static TokenShardReader open(Path path, int vocabBound) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            return open(path, vocabBound, arena, true);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Opens a shard in the caller's arena, whose closing unmaps it.
     *
     * @param path the shard file
     * @param vocabBound the exclusive bound on tokens, 0 for no check
     * @param arena the arena that owns the mapping
     * @return the reader
     * @throws IOException when the file cannot be read, is not a valid shard or holds a token out of bounds
     */
    public static TokenShardReader open(Path path, int vocabBound, Arena arena) throws IOException {
        return open(path, vocabBound, arena, false);
    }

    private static TokenShardReader open(Path path, int vocabBound, Arena arena, boolean owns) throws IOException {
        if (vocabBound < 0) {
            throw new IllegalArgumentException("vocabBound must be >= 0, got " + vocabBound);
        }
        MemorySegment file;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < TokenShardFormat.HEADER_BYTES) {
                throw new MalformedFileException(
                        path,
                        "file is " + size + " bytes, shorter than the " + TokenShardFormat.HEADER_BYTES
                                + "-byte token shard header (truncated?)");
            }
            file = ch.map(MapMode.READ_ONLY, 0, size, arena);
        }
        int magic = file.get(I32, 0);
        if (magic != TokenShardFormat.MAGIC) {
            byte[] m = file.asSlice(0, 4).toArray(ValueLayout.JAVA_BYTE);
            throw new MalformedFileException(
                    path, "bad magic \"" + printable(m) + "\", expected \"FGTK\" (not a fulgur token shard)");
        }
        int version = file.get(I32, 4);
        if (version != TokenShardFormat.VERSION) {
            throw new MalformedFileException(
                    path, "unsupported token shard version " + version + ", expected " + TokenShardFormat.VERSION);
        }
        int width = file.get(I32, 8);
        if (width != 2 && width != 4) {
            throw new MalformedFileException(path, "token width " + width + " bytes, expected 2 or 4");
        }
        int vocab = file.get(I32, 12);
        long count = file.get(I64, 16);
        if (vocab < 0 || (width == 2 && vocab > 65536)) {
            throw new MalformedFileException(
                    path, "header vocabulary size " + vocab + " is invalid for " + width + "-byte tokens");
        }
        long dataBytes = file.byteSize() - TokenShardFormat.HEADER_BYTES;
        if (count < 0 || count > dataBytes / width || dataBytes != count * width) {
            throw new MalformedFileException(
                    path,
                    "header promises " + count + " tokens of " + width + " bytes but " + dataBytes
                            + " bytes of tokens follow it"
                            + (count >= 0 && dataBytes < count * width ? " (file truncated?)" : ""));
        }
        if (vocabBound > 0 && vocab > vocabBound) {
            throw new MalformedFileException(
                    path,
                    "shard was written for a vocabulary of " + vocab + " tokens, larger than the expected "
                            + vocabBound);
        }
        TokenShardReader r = new TokenShardReader(
                path, arena, owns, file.asSlice(TokenShardFormat.HEADER_BYTES), width, vocab, count);
        r.validate(vocabBound);
        return r;
    }

    /** With a bound, checks every token against it (a sequential pass over the file). */
    private void validate(int vocabBound) throws MalformedFileException {
        if (vocabBound == 0 || (tokenBytes == 2 && vocabBound >= 65536)) {
            return;
        }
        int[] chunk = new int[1 << 16];
        for (long pos = 0; pos < count; pos += chunk.length) {
            int n = (int) Math.min(chunk.length, count - pos);
            read(pos, chunk, 0, n);
            for (int i = 0; i < n; i++) {
                if (chunk[i] < 0 || chunk[i] >= vocabBound) {
                    throw new MalformedFileException(
                            path,
                            "token " + (pos + i) + " is " + (chunk[i] & 0xFFFF_FFFFL) + ", expected 0 <= token < "
                                    + vocabBound + " (the vocabulary size)");
                }
            }
        }
    }

    private static String printable(byte[] m) {
        StringBuilder sb = new StringBuilder();
        for (byte b : m) {
            sb.append(b >= 32 && b < 127 ? String.valueOf((char) b) : String.format("\\x%02x", b & 0xFF));
        }
        return sb.toString();
    }

    @Override
    public long size() {
        return count;
    }

    @Override
    public int get(long index) {
        Objects.checkIndex(index, count);
        return tokenBytes == 2 ? tokens.getAtIndex(U16, index) & 0xFFFF : tokens.getAtIndex(I32, index);
    }

    @Override
    public void read(long from, int[] dst, int off, int len) {
        Objects.checkFromIndexSize(off, len, dst.length);
        Objects.checkFromIndexSize(from, len, count);
        if (tokenBytes == 4) {
            MemorySegment.copy(tokens, I32, from * 4, dst, off, len);
        } else {
            for (int i = 0; i < len; i++) {
                dst[off + i] = tokens.getAtIndex(U16, from + i) & 0xFFFF;
            }
        }
    }

    /**
     * Bytes per token (2 or 4).
     *
     * @return the width
     */
    public int tokenBytes() {
        return tokenBytes;
    }

    /**
     * The vocabulary size recorded in the header (0 if none).
     *
     * @return the size
     */
    public int vocabSize() {
        return vocabSize;
    }

    /**
     * The shard file.
     *
     * @return the path
     */
    public Path path() {
        return path;
    }

    /**
     * The mapped tokens (without the header).
     *
     * @return the segment
     */
    public MemorySegment segment() {
        return tokens;
    }

    @Override
    public void close() {
        if (ownsArena && arena.scope().isAlive()) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "TokenShardReader[" + path + ", " + count + " tokens x " + tokenBytes + " bytes]";
    }
}
