package fulgur.data;

import fulgur.io.AtomicFiles;
import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;

/**
 * Streams tokens into a token shard file (see {@link TokenShardReader} for the format). Nothing is visible at the
 * target path until {@link #finish()}, which writes the header and atomically renames the file into place; closing
 * an unfinished writer discards it. Every token is checked against the width and the vocabulary size.
 */
public final class TokenShardWriter implements Closeable {

    private static final int BUFFER_BYTES = 1 << 20;

    private final Path target;
    private final int tokenBytes;
    private final int vocabSize;
    private final long limit;
    private final AtomicFiles.Pending pending;
    private final FileChannel channel;
    private final ByteBuffer buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).order(ByteOrder.LITTLE_ENDIAN);
    private long count;
    private boolean finished;

    private TokenShardWriter(Path target, int tokenBytes, int vocabSize) throws IOException {
        this.target = target;
        this.tokenBytes = tokenBytes;
        this.vocabSize = vocabSize;
        this.limit = vocabSize > 0 ? vocabSize : (tokenBytes == 2 ? 65536L : Integer.MAX_VALUE + 1L);
        this.pending = AtomicFiles.begin(target);
        this.channel = pending.channel();
        AtomicFiles.writeFully(channel, TokenShardFormat.header(tokenBytes, vocabSize, 0));
    }

    /**
     * A writer for tokens below {@code vocabSize}, 2 bytes each if the vocabulary fits in 16 bits, else 4.
     *
     * @param file the shard file to write
     * @param vocabSize the exclusive bound on tokens, &gt; 0
     * @return the writer, to finish or close
     * @throws IOException when the file cannot be created
     * @throws IllegalArgumentException when {@code vocabSize} is not positive
     */
    public static TokenShardWriter create(Path file, int vocabSize) throws IOException {
        if (vocabSize <= 0) {
            throw new IllegalArgumentException("vocabSize must be positive, got " + vocabSize);
        }
        return new TokenShardWriter(file, TokenShardFormat.widthFor(vocabSize), vocabSize);
    }

    /**
     * A writer with an explicit token width (2 or 4 bytes) and vocabulary size ({@code 0} to record none; tokens are
     * then only checked against the width).
     *
     * @param file the shard file to write
     * @param tokenBytes 2 or 4
     * @param vocabSize the exclusive bound on tokens, or 0
     * @return the writer, to finish or close
     * @throws IOException when the file cannot be created
     * @throws IllegalArgumentException for another width, or a vocabulary the width cannot hold
     */
    public static TokenShardWriter create(Path file, int tokenBytes, int vocabSize) throws IOException {
        if (tokenBytes != 2 && tokenBytes != 4) {
            throw new IllegalArgumentException("tokenBytes must be 2 or 4, got " + tokenBytes);
        }
        if (vocabSize < 0 || (tokenBytes == 2 && vocabSize > 65536)) {
            throw new IllegalArgumentException("vocabSize " + vocabSize + " does not fit " + tokenBytes + "-byte tokens"
                    + (tokenBytes == 2 ? " (at most 65536)" : ""));
        }
        return new TokenShardWriter(file, tokenBytes, vocabSize);
    }

    /**
     * Appends one token.
     *
     * @param token the token, in [0, vocabSize)
     * @throws IOException when writing fails
     * @throws IllegalArgumentException when the token is out of range
     */
    public void append(int token) throws IOException {
        check(token, count);
        if (buffer.remaining() < tokenBytes) {
            flush();
        }
        put(token);
        count++;
    }

    /**
     * Appends {@code tokens[off .. off + len)}.
     *
     * @param tokens the tokens
     * @param off the first index
     * @param len how many
     * @throws IOException when writing fails
     * @throws IllegalArgumentException when a token is out of range
     */
    public void append(int[] tokens, int off, int len) throws IOException {
        java.util.Objects.checkFromIndexSize(off, len, tokens.length);
        for (int i = off; i < off + len; i++) {
            check(tokens[i], count + (i - off));
        }
        for (int i = off; i < off + len; i++) {
            if (buffer.remaining() < tokenBytes) {
                flush();
            }
            put(tokens[i]);
        }
        count += len;
    }

    /**
     * Appends all of {@code tokens}.
     *
     * @param tokens the tokens
     * @throws IOException when writing fails
     * @throws IllegalArgumentException when a token is out of range
     */
    public void append(int[] tokens) throws IOException {
        append(tokens, 0, tokens.length);
    }

    /**
     * Tokens appended so far.
     *
     * @return the count
     */
    public long count() {
        return count;
    }

    /**
     * The file being written.
     *
     * @return the final path
     */
    public Path path() {
        return target;
    }

    /**
     * Writes the header, forces the data to disk and moves the file into place.
     *
     * @throws IOException when writing or moving fails
     * @throws IllegalStateException when already finished or discarded
     */
    public void finish() throws IOException {
        if (finished) {
            throw new IllegalStateException(target + ": token shard already finished or discarded");
        }
        flush();
        ByteBuffer h = TokenShardFormat.header(tokenBytes, vocabSize, count);
        while (h.hasRemaining()) {
            channel.write(h, h.position()); // the header sits at file offset 0
        }
        finished = true;
        pending.commit();
    }

    private void put(int token) {
        if (tokenBytes == 2) {
            buffer.putShort((short) token);
        } else {
            buffer.putInt(token);
        }
    }

    private void check(int token, long index) {
        if (token < 0 || token >= limit) {
            throw new IllegalArgumentException(target + ": token " + index + " is " + token + ", expected 0 <= token < "
                    + limit + (vocabSize > 0 ? " (the vocabulary size)" : " (what " + tokenBytes + " bytes hold)"));
        }
    }

    private void flush() throws IOException {
        buffer.flip();
        AtomicFiles.writeFully(channel, buffer);
        buffer.clear();
    }

    /** Discards the file unless {@link #finish()} was called. */
    @Override
    public void close() throws IOException {
        if (!finished) {
            finished = true;
            pending.close();
        }
    }
}
