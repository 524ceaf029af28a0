package fulgur.data;

import fulgur.io.MalformedFileException;
import fulgur.tokenizer.Tokenizer;
import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/**
 * A directory of token shards ({@code *.fgtk}, in name order) seen as one token stream, for corpora larger than
 * memory; and the tools to write such a directory ({@link #writer}, {@link #tokenize}).
 */
public final class TokenShards implements TokenStream, AutoCloseable {

    private final Arena arena;
    private final List<TokenShardReader> shards;
    private final long[] starts; // starts[i] = first global index of shard i; starts[n] = size
    private final long size;

    private TokenShards(Arena arena, List<TokenShardReader> shards) {
        this.arena = arena;
        this.shards = List.copyOf(shards);
        this.starts = new long[shards.size() + 1];
        for (int i = 0; i < shards.size(); i++) {
            starts[i + 1] = starts[i] + shards.get(i).size();
        }
        this.size = starts[shards.size()];
    }

    /**
     * Opens every {@code *.fgtk} file of {@code dir}, in name order.
     *
     * @param dir the directory
     * @return the stream, to close
     * @throws IOException when a shard cannot be read or is invalid, or there are none
     */
    public static TokenShards open(Path dir) throws IOException {
        return open(dir, 0);
    }

    /**
     * Opens every {@code *.fgtk} file of {@code dir}, checking each token against {@code vocabBound} (0: no check).
     *
     * @param dir the directory
     * @param vocabBound the exclusive bound on tokens, 0 for no check
     * @return the stream, to close
     * @throws IOException when a shard cannot be read or is invalid, or there are none
     */
    public static TokenShards open(Path dir, int vocabBound) throws IOException {
        if (!Files.isDirectory(dir)) {
            throw new NoSuchFileException(dir.toString(), null, "not a directory of token shards");
        }
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p ->
                            p.getFileName().toString().endsWith(TokenShardFormat.EXTENSION) && Files.isRegularFile(p))
                    .sorted()
                    .toList();
        }
        if (files.isEmpty()) {
            throw new NoSuchFileException(
                    dir.toString(), null, "directory holds no " + TokenShardFormat.EXTENSION + " token shards");
        }
        return open(files, vocabBound);
    }

    /**
     * Opens the given shard files as one stream, in the order given.
     *
     * @param files the shard files
     * @param vocabBound the exclusive bound on tokens, 0 for no check
     * @return the stream, to close
     * @throws IOException when a shard cannot be read, is invalid, or records a larger vocabulary than the bound
     */
    public static TokenShards open(List<Path> files, int vocabBound) throws IOException {
        Arena arena = Arena.ofShared();
        try {
            List<TokenShardReader> readers = new ArrayList<>();
            for (Path f : files) {
                readers.add(TokenShardReader.open(f, vocabBound, arena));
            }
            int vocab = readers.isEmpty() ? 0 : readers.getFirst().vocabSize();
            for (TokenShardReader r : readers) {
                if (r.vocabSize() != vocab && r.vocabSize() != 0 && vocab != 0) {
                    throw new MalformedFileException(
                            r.path(),
                            "records a vocabulary of " + r.vocabSize() + " tokens but "
                                    + readers.getFirst().path().getFileName() + " records " + vocab
                                    + " (shards of different tokenizers?)");
                }
            }
            return new TokenShards(arena, readers);
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /**
     * The shards, in stream order.
     *
     * @return the shards
     */
    public List<TokenShardReader> shards() {
        return shards;
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public int get(long index) {
        Objects.checkIndex(index, size);
        int s = shardOf(index);
        return shards.get(s).get(index - starts[s]);
    }

    @Override
    public void read(long from, int[] dst, int off, int len) {
        Objects.checkFromIndexSize(off, len, dst.length);
        Objects.checkFromIndexSize(from, len, size);
        int s = len == 0 ? 0 : shardOf(from);
        while (len > 0) {
            long local = from - starts[s];
            int n = (int) Math.min(len, shards.get(s).size() - local);
            if (n > 0) {
                shards.get(s).read(local, dst, off, n);
            }
            from += n;
            off += n;
            len -= n;
            s++;
        }
    }

    private int shardOf(long index) {
        int i = Arrays.binarySearch(starts, index);
        if (i >= 0) {
            while (i + 1 < starts.length && starts[i + 1] == index) {
                i++; // skip empty shards
            }
            return i;
        }
        return -i - 2;
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }

    /**
     * A writer that fills {@code dir} with shards {@code prefix-000000.fgtk}, {@code prefix-000001.fgtk}, ... of
     * {@code tokensPerShard} tokens each (the last one shorter). Each shard appears atomically when full; closing
     * without {@link Writer#finish()} discards the shard in progress.
     *
     * @param dir the directory, created if absent
     * @param prefix the file names' prefix
     * @param vocabSize the exclusive bound on tokens
     * @param tokensPerShard tokens per shard, &gt; 0
     * @return the writer, to finish
     * @throws IOException when the directory cannot be created
     */
    public static Writer writer(Path dir, String prefix, int vocabSize, long tokensPerShard) throws IOException {
        return new Writer(dir, prefix, vocabSize, tokensPerShard);
    }

    /**
     * Tokenizes corpus files (as {@link TextCorpus} reads them) straight into shards in {@code dir}, without holding
     * the corpus in memory. Returns the shard files written.
     *
     * @param inputs corpus files or directories
     * @param tokenizer the tokenizer
     * @param options how to read the files
     * @param dir the directory of the shards
     * @param tokensPerShard tokens per shard
     * @return the shard files
     * @throws IOException when reading or writing fails, or a file is malformed
     */
    public static List<Path> tokenize(
            List<Path> inputs, Tokenizer tokenizer, TextCorpus.Options options, Path dir, long tokensPerShard)
            throws IOException {
        try (Writer w = writer(dir, "shard", tokenizer.vocabSize(), tokensPerShard)) {
            for (Path f : TextCorpus.expand(inputs)) {
                TextCorpus.tokenize(f, tokenizer, options, w::append);
            }
            return w.finish();
        }
    }

    /** Rolls over to a new shard file every {@code tokensPerShard} tokens. */
    public static final class Writer implements Closeable {
        private final Path dir;
        private final String prefix;
        private final int vocabSize;
        private final long tokensPerShard;
        private final List<Path> written = new ArrayList<>();
        private TokenShardWriter current;
        private long total;

        private Writer(Path dir, String prefix, int vocabSize, long tokensPerShard) throws IOException {
            if (tokensPerShard <= 0) {
                throw new IllegalArgumentException("tokensPerShard must be positive, got " + tokensPerShard);
            }
            if (vocabSize <= 0) {
                throw new IllegalArgumentException("vocabSize must be positive, got " + vocabSize);
            }
            if (prefix.isEmpty() || prefix.contains("/") || prefix.contains("\\")) {
                throw new IllegalArgumentException(
                        "shard prefix must be a non-empty file name part, got \"" + prefix + "\"");
            }
            this.dir = dir;
            this.prefix = prefix;
            this.vocabSize = vocabSize;
            this.tokensPerShard = tokensPerShard;
            Files.createDirectories(dir);
        }

        /**
         * Appends tokens, starting new shards as needed.
         *
         * @param tokens the tokens
         * @throws IOException when writing fails
         */
        public void append(int[] tokens) throws IOException {
            int off = 0;
            while (off < tokens.length) {
                if (current == null) {
                    current = TokenShardWriter.create(
                            dir.resolve(String.format("%s-%06d%s", prefix, written.size(), TokenShardFormat.EXTENSION)),
                            vocabSize);
                }
                int n = (int) Math.min(tokens.length - off, tokensPerShard - current.count());
                current.append(tokens, off, n);
                off += n;
                total += n;
                if (current.count() == tokensPerShard) {
                    current.finish();
                    written.add(current.path());
                    current = null;
                }
            }
        }

        /**
         * Tokens appended so far.
         *
         * @return the count
         */
        public long count() {
            return total;
        }

        /**
         * Finishes the last shard and returns all shard files.
         *
         * @return the files, in order
         * @throws IOException when writing fails
         */
        public List<Path> finish() throws IOException {
            if (current != null && current.count() > 0) {
                current.finish();
                written.add(current.path());
            } else if (current != null) {
                current.close();
            }
            current = null;
            return List.copyOf(written);
        }

        @Override
        public void close() throws IOException {
            if (current != null) {
                current.close();
                current = null;
            }
        }
    }
}
