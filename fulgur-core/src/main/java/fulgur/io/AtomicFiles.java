package fulgur.io;

import java.io.BufferedOutputStream;
import java.io.Closeable;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Writes files so that a reader (or a crash) never sees a half-written file: the content goes to a temporary file in
 * the target's directory, which is forced to disk, then renamed over the target with an atomic move; finally the
 * directory itself is forced where the operating system allows it (POSIX does, Windows does not). If anything fails
 * the temporary file is removed and the previous target, if any, is left untouched.
 */
public final class AtomicFiles {

    private AtomicFiles() {}

    /**
     * Atomically replaces {@code target} with {@code bytes}.
     *
     * @param target the file to replace or create
     * @param bytes its new contents
     * @throws java.io.IOException when writing or renaming fails (the target is then unchanged)
     */
    public static void write(Path target, byte[] bytes) throws IOException {
        Objects.requireNonNull(bytes, "bytes");
        writeChannel(target, ch -> writeFully(ch, ByteBuffer.wrap(bytes)));
    }

    /**
     * Atomically replaces {@code target} with {@code text} encoded as UTF-8.
     *
     * @param target the file to replace or create
     * @param text its new contents
     * @throws java.io.IOException when writing or renaming fails (the target is then unchanged)
     */
    public static void writeString(Path target, CharSequence text) throws IOException {
        write(target, text.toString().getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Atomically replaces {@code target} with what {@code body} writes to the (buffered) stream it is given. Closing
     * that stream inside the body only flushes it; the file is committed once the body returns normally.
     *
     * @param target the file to replace or create
     * @param body writes the new contents
     * @throws java.io.IOException when the body or the commit fails (the target is then unchanged)
     */
    public static void write(Path target, IoConsumer<? super OutputStream> body) throws IOException {
        try (Pending pending = begin(target)) {
            body.accept(pending.outputStream());
            pending.commit();
        }
    }

    /**
     * Atomically replaces {@code target} with what {@code body} writes to the channel it is given (a
     * {@link FileChannel}, usable as a plain {@link java.nio.channels.WritableByteChannel}).
     *
     * @param target the file to replace or create
     * @param body writes the new contents
     * @throws java.io.IOException when the body or the commit fails (the target is then unchanged)
     */
    public static void writeChannel(Path target, IoConsumer<? super FileChannel> body) throws IOException {
        try (Pending pending = begin(target)) {
            body.accept(pending.channel());
            pending.commit();
        }
    }

    /**
     * Starts a streamed atomic write: write through {@link Pending#channel()} or {@link Pending#outputStream()}, then
     * {@link Pending#commit()}. Closing a pending write that was not committed deletes the temporary file. Missing
     * parent directories are created.
     *
     * @param target the file to replace or create
     * @return the pending write, to commit and close
     * @throws java.io.IOException when the temporary file cannot be created, or the target is a directory or the root
     */
    public static Pending begin(Path target) throws IOException {
        Objects.requireNonNull(target, "target");
        Path absolute = target.toAbsolutePath();
        Path dir = absolute.getParent();
        if (dir == null) {
            throw new IOException(target + ": cannot write a file at the file-system root");
        }
        if (Files.isDirectory(absolute)) {
            throw new IOException(target + ": is a directory, expected a file path to write");
        }
        Files.createDirectories(dir);
        String name = absolute.getFileName().toString();
        for (int attempt = 0; ; attempt++) {
            Path temp = dir.resolve("." + name + "."
                    + HexFormat.of().toHexDigits(ThreadLocalRandom.current().nextLong()) + ".tmp");
            try {
                FileChannel channel = FileChannel.open(
                        temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE, StandardOpenOption.READ);
                return new Pending(absolute, temp, channel);
            } catch (java.nio.file.FileAlreadyExistsException e) {
                if (attempt >= 16) {
                    throw e;
                }
            }
        }
    }

    /**
     * Writes all of {@code buffer} to {@code channel}.
     *
     * @param channel the channel
     * @param buffer the bytes, from its position to its limit
     * @throws java.io.IOException when writing fails
     */
    public static void writeFully(java.nio.channels.WritableByteChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            channel.write(buffer);
        }
    }

    /** Forces a directory's entries to disk; a no-op where the platform cannot open directories (Windows). */
    static void forceDirectory(Path dir) {
        try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
            ch.force(true);
        } catch (IOException | UnsupportedOperationException e) {
            // Not supported on this platform (e.g. Windows refuses to open a directory); the rename is still atomic.
        }
    }

    /** A write in progress to a temporary file that becomes the target on {@link #commit()}. */
    public static final class Pending implements Closeable {
        private final Path target;
        private final Path temp;
        private final FileChannel channel;
        private BufferedOutputStream stream;
        private boolean done;

        private Pending(Path target, Path temp, FileChannel channel) {
            this.target = target;
            this.temp = temp;
            this.channel = channel;
        }

        /**
         * The file that will be replaced on commit.
         *
         * @return the target
         */
        public Path target() {
            return target;
        }

        /**
         * The temporary file being written.
         *
         * @return the temporary file
         */
        public Path tempFile() {
            return temp;
        }

        /**
         * The temporary file's channel (readable and writable, positioned where the last write ended).
         *
         * @return the channel
         * @throws java.io.IOException when flushing the stream fails
         * @throws IllegalStateException when the write was committed or closed
         */
        public FileChannel channel() throws IOException {
            checkOpen();
            if (stream != null) {
                stream.flush();
            }
            return channel;
        }

        /**
         * A buffered stream over the channel. Its {@code close()} only flushes; mixing it with direct channel writes
         * is allowed, the stream is flushed whenever {@link #channel()} is asked for.
         *
         * @return the stream
         * @throws IllegalStateException when the write was committed or closed
         */
        public OutputStream outputStream() {
            checkOpen();
            if (stream == null) {
                OutputStream raw = Channels.newOutputStream(channel);
                stream = new BufferedOutputStream(
                        new OutputStream() {
                            @Override
                            public void write(int b) throws IOException {
                                raw.write(b);
                            }

                            @Override
                            public void write(byte[] b, int off, int len) throws IOException {
                                raw.write(b, off, len);
                            }

                            @Override
                            public void close() {
                                // the channel is closed by commit() or close()
                            }
                        },
                        1 << 16);
            }
            return stream;
        }

        /**
         * Flushes, forces the data to disk, renames the temporary file over the target and forces the directory.
         *
         * @throws java.io.IOException when forcing or renaming fails
         */
        public void commit() throws IOException {
            checkOpen();
            try {
                if (stream != null) {
                    stream.flush();
                }
                channel.force(true);
                channel.close();
                try {
                    Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException e) {
                    throw new IOException(
                            target + ": the file system does not support an atomic rename in " + target.getParent(), e);
                }
                done = true;
                forceDirectory(target.getParent());
            } finally {
                if (!done) {
                    abort();
                }
            }
        }

        /** Abandons the write if it was not committed: the temporary file is deleted, the target left as it was. */
        @Override
        public void close() throws IOException {
            if (!done) {
                abort();
            }
        }

        private void abort() throws IOException {
            done = true;
            try {
                channel.close();
            } finally {
                Files.deleteIfExists(temp);
            }
        }

        private void checkOpen() {
            if (done) {
                throw new IllegalStateException(target + ": the atomic write was already committed or abandoned");
            }
        }
    }
}
