package fulgur.data;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import fulgur.io.MalformedFileException;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.OptionalInt;
import java.util.stream.Stream;

/**
 * A tokenized text corpus held in memory: plain-text files (each file one document) and JSON Lines files (one
 * object per line, the document in a string field, {@code "text"} by default) turned into one token stream, each
 * document followed by the tokenizer's EOS id when it has one, then split into a training part and a validation
 * part taken from the end (a fixed fraction, 0.1 by default; deterministic). Special tokens written in the text
 * (e.g. {@code <|endoftext|>} between stories) are recognized as such; plain-text bytes that are not valid UTF-8 are
 * kept exactly (see {@link Tokenizer#encode(byte[])}), while JSON Lines must be valid UTF-8. Corpora larger than
 * memory go through {@link TokenShards#tokenize} instead, which streams the same documents to shard files.
 */
public final class TextCorpus {

    /** How to read a file: by extension ({@code .jsonl}/{@code .ndjson} are JSON Lines), or forced. */
    public enum Format {
        /** JSON Lines for {@code .jsonl} and {@code .ndjson} files, plain text otherwise. */
        AUTO,
        /** Plain text: a file is one document. */
        TEXT,
        /** JSON Lines: each line is an object whose text field is one document. */
        JSONL
    }

    /**
     * How files become documents and tokens.
     *
     * @param format how files are read
     * @param textField the JSON Lines field holding the document
     * @param validationFraction the fraction of tokens held out at the end, in [0, 1)
     * @param separateDocuments whether to append the tokenizer's EOS id after each document (when it has one)
     */
    public record Options(Format format, String textField, double validationFraction, boolean separateDocuments) {
        /**
         * Checks the options.
         *
         * @throws NullPointerException when format or textField is null
         * @throws IllegalArgumentException when validationFraction is outside [0, 1)
         */
        public Options {
            Objects.requireNonNull(format, "format");
            Objects.requireNonNull(textField, "textField");
            if (!(validationFraction >= 0 && validationFraction < 1)) {
                throw new IllegalArgumentException("validationFraction must be in [0, 1), got " + validationFraction);
            }
        }

        /**
         * AUTO format, field "text", 10% validation, EOS between documents.
         *
         * @return the options
         */
        public static Options defaults() {
            return new Options(Format.AUTO, "text", 0.1, true);
        }

        /**
         * {@return these options with format {@code f}}
         *
         * @param f the format
         */
        public Options withFormat(Format f) {
            return new Options(f, textField, validationFraction, separateDocuments);
        }

        /**
         * {@return these options reading documents from JSON field {@code field}}
         *
         * @param field the field's name
         */
        public Options withTextField(String field) {
            return new Options(format, field, validationFraction, separateDocuments);
        }

        /**
         * {@return these options holding out {@code fraction} of the tokens}
         *
         * @param fraction in [0, 1)
         */
        public Options withValidationFraction(double fraction) {
            return new Options(format, textField, fraction, separateDocuments);
        }

        /**
         * {@return these options with or without EOS between documents}
         *
         * @param separate whether to separate
         */
        public Options withSeparateDocuments(boolean separate) {
            return new Options(format, textField, validationFraction, separate);
        }
    }

    /** Receives the tokens of the documents in order; EOS separators arrive as their own one-element arrays. */
    @FunctionalInterface
    public interface TokenSink {
        /**
         * Receives the next tokens.
         *
         * @param tokens the tokens (not kept by the caller)
         * @throws IOException when the sink fails to store them
         */
        void accept(int[] tokens) throws IOException;
    }

    /** Plain-text files are tokenized in chunks of about this many bytes, cut after a newline. */
    static final int TEXT_CHUNK_BYTES = 64 << 20;

    private final int[] tokens;
    private final long documents;
    private final long trainSize;

    private TextCorpus(int[] tokens, long documents, long trainSize) {
        this.tokens = tokens;
        this.documents = documents;
        this.trainSize = trainSize;
    }

    /**
     * Loads {@code path} (a file, or a directory of {@code .txt}/{@code .jsonl} files) with default options.
     *
     * @param path a file or directory
     * @param tokenizer the tokenizer
     * @return the corpus
     * @throws IOException when a file cannot be read or is malformed (naming the file and line)
     */
    public static TextCorpus load(Path path, Tokenizer tokenizer) throws IOException {
        return load(List.of(path), tokenizer, Options.defaults());
    }

    /**
     * Loads files (directories are expanded to their {@code .txt}, {@code .jsonl}, {@code .ndjson} files, sorted) in
     * order.
     *
     * @param paths files or directories
     * @param tokenizer the tokenizer
     * @param options how to read them
     * @return the corpus
     * @throws IOException when a file cannot be read or is malformed (naming the file and line)
     */
    public static TextCorpus load(List<Path> paths, Tokenizer tokenizer, Options options) throws IOException {
        Objects.requireNonNull(tokenizer, "tokenizer");
        Growable all = new Growable();
        long docs = 0;
        for (Path file : expand(paths)) {
            docs += tokenize(file, tokenizer, options, all::add);
        }
        int[] tokens = all.toArray();
        long validation = Math.round(tokens.length * options.validationFraction());
        return new TextCorpus(tokens, docs, tokens.length - validation);
    }

    /**
     * The files that {@code paths} denote: files as given, directories expanded to their corpus files sorted by name.
     *
     * @param paths files or directories
     * @return the files
     * @throws IOException when a path does not exist or a directory holds no corpus file
     */
    public static List<Path> expand(List<Path> paths) throws IOException {
        List<Path> out = new ArrayList<>();
        for (Path p : paths) {
            if (Files.isDirectory(p)) {
                try (Stream<Path> s = Files.list(p)) {
                    List<Path> found = s.filter(f -> Files.isRegularFile(f) && isCorpusFile(f))
                            .sorted()
                            .toList();
                    if (found.isEmpty()) {
                        throw new NoSuchFileException(
                                p.toString(), null, "directory has no .txt, .jsonl or .ndjson files");
                    }
                    out.addAll(found);
                }
            } else if (Files.isRegularFile(p)) {
                out.add(p);
            } else {
                throw new NoSuchFileException(p.toString(), null, "no such corpus file or directory");
            }
        }
        return out;
    }

    private static boolean isCorpusFile(Path f) {
        String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".txt") || n.endsWith(".jsonl") || n.endsWith(".ndjson");
    }

    private static boolean isJsonLines(Path f, Format format) {
        return switch (format) {
            case JSONL -> true;
            case TEXT -> false;
            case AUTO -> {
                String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
                yield n.endsWith(".jsonl") || n.endsWith(".ndjson");
            }
        };
    }

    /**
     * Streams the tokens of one file's documents to {@code sink}, each document followed by the EOS id when
     * {@code options.separateDocuments()} and the tokenizer has one. Returns the number of documents. A malformed
     * JSON Lines line fails with the file and line number.
     *
     * @param file the file
     * @param tokenizer the tokenizer
     * @param options how to read it
     * @param sink receives the tokens
     * @return the number of documents
     * @throws IOException when the file cannot be read or is malformed, or the sink fails
     */
    public static long tokenize(Path file, Tokenizer tokenizer, Options options, TokenSink sink) throws IOException {
        OptionalInt eos = options.separateDocuments() ? tokenizer.eosId() : OptionalInt.empty();
        int[] eosArray = eos.isPresent() ? new int[] {eos.getAsInt()} : null;
        if (!isJsonLines(file, options.format())) {
            try (InputStream in = Files.newInputStream(file)) {
                byte[] carry = new byte[0];
                while (true) {
                    byte[] chunk = in.readNBytes(TEXT_CHUNK_BYTES);
                    if (chunk.length == 0) {
                        break;
                    }
                    byte[] data = carry.length == 0 ? chunk : concat(carry, chunk);
                    int cut = data.length;
                    if (chunk.length == TEXT_CHUNK_BYTES) {
                        int nl = lastIndexOf(data, (byte) '\n');
                        cut = nl >= 0 ? nl + 1 : data.length;
                    }
                    sink.accept(tokenizer.encode(cut == data.length ? data : Arrays.copyOf(data, cut)));
                    carry = Arrays.copyOfRange(data, cut, data.length);
                }
                if (carry.length > 0) {
                    sink.accept(tokenizer.encode(carry));
                }
            }
            if (eosArray != null) {
                sink.accept(eosArray);
            }
            return 1;
        }
        long docs = 0;
        long line = 0;
        java.nio.charset.CharsetDecoder utf8 = StandardCharsets.UTF_8.newDecoder();
        try (InputStream in = new java.io.BufferedInputStream(Files.newInputStream(file), 1 << 16)) {
            LineBuffer buf = new LineBuffer();
            while (buf.readLine(in)) {
                line++;
                String s;
                try {
                    s = utf8.decode(java.nio.ByteBuffer.wrap(buf.bytes, 0, buf.length))
                            .toString();
                } catch (CharacterCodingException e) {
                    throw new MalformedFileException(file, "line " + line + ": not valid UTF-8", e);
                }
                if (s.isBlank()) {
                    continue;
                }
                JsonNode node;
                try {
                    node = Json.mapper().readTree(s);
                } catch (JacksonException e) {
                    throw new MalformedFileException(
                            file, "line " + line + ": invalid JSON: " + e.getOriginalMessage(), e);
                }
                if (node == null || !node.isObject()) {
                    throw new MalformedFileException(
                            file,
                            "line " + line + ": expected a JSON object, found "
                                    + (node == null
                                            ? "nothing"
                                            : node.getNodeType().toString().toLowerCase(Locale.ROOT)));
                }
                JsonNode text = node.get(options.textField());
                if (text == null) {
                    throw new MalformedFileException(
                            file,
                            "line " + line + ": no field \"" + options.textField() + "\" (fields: "
                                    + String.join(", ", iterable(node.fieldNames())) + ")");
                }
                if (!text.isTextual()) {
                    throw new MalformedFileException(
                            file,
                            "line " + line + ": field \"" + options.textField() + "\" is "
                                    + text.getNodeType().toString().toLowerCase(Locale.ROOT) + ", expected a string");
                }
                sink.accept(tokenizer.encode(text.asText()));
                if (eosArray != null) {
                    sink.accept(eosArray);
                }
                docs++;
            }
        }
        return docs;
    }

    /** One line of raw bytes at a time (without the '\n', and without a '\r' before it). */
    private static final class LineBuffer {
        byte[] bytes = new byte[1024];
        int length;

        boolean readLine(InputStream in) throws IOException {
            length = 0;
            int b = in.read();
            if (b < 0) {
                return false;
            }
            while (b >= 0 && b != '\n') {
                if (length == bytes.length) {
                    bytes = Arrays.copyOf(bytes, bytes.length * 2);
                }
                bytes[length++] = (byte) b;
                b = in.read();
            }
            if (length > 0 && bytes[length - 1] == '\r') {
                length--;
            }
            return true;
        }
    }

    private static List<String> iterable(java.util.Iterator<String> it) {
        List<String> out = new ArrayList<>();
        it.forEachRemaining(out::add);
        return out;
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static int lastIndexOf(byte[] a, byte v) {
        for (int i = a.length - 1; i >= 0; i--) {
            if (a[i] == v) {
                return i;
            }
        }
        return -1;
    }

    /**
     * All tokens.
     *
     * @return the stream
     */
    public TokenStream tokens() {
        return TokenStream.of(tokens);
    }

    /**
     * The training part: all tokens but the last {@code validationFraction}.
     *
     * @return the stream
     */
    public TokenStream train() {
        return tokens().slice(0, trainSize);
    }

    /**
     * The validation part: the last {@code round(size * validationFraction)} tokens.
     *
     * @return the stream
     */
    public TokenStream validation() {
        return tokens().slice(trainSize, tokens.length);
    }

    /**
     * Number of tokens.
     *
     * @return the count
     */
    public long size() {
        return tokens.length;
    }

    /**
     * Number of documents read.
     *
     * @return the count
     */
    public long documentCount() {
        return documents;
    }

    /** A growable int array; fails clearly past Java's array limit. */
    static final class Growable {
        private int[] a = new int[1024];
        private int n;

        void add(int[] v) {
            if ((long) n + v.length > Integer.MAX_VALUE - 8) {
                throw new IllegalStateException("corpus exceeds " + (Integer.MAX_VALUE - 8)
                        + " tokens, too many to hold in memory; write token shards with TokenShards.tokenize instead");
            }
            if (n + v.length > a.length) {
                a = Arrays.copyOf(a, (int)
                        Math.min(Integer.MAX_VALUE - 8, Math.max((long) n + v.length, a.length * 2L)));
            }
            System.arraycopy(v, 0, a, n, v.length);
            n += v.length;
        }

        int[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
