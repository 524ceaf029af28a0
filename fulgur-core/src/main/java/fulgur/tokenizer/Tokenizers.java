package fulgur.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Opens a tokenizer of any supported format: what {@code --tokenizer} and model directories name. */
public final class Tokenizers {
    /** The name of the byte-level tokenizer ({@link ByteTokenizer#withEndOfText()}). */
    public static final String BYTE = "byte";

    private Tokenizers() {}

    /**
     * {@code "byte"}, or a tokenizer file or directory ({@link #load}); anything else is an error naming what was
     * expected.
     *
     * @param spec "byte", or a path
     * @param option the option that gave it, for the error (e.g. "--tokenizer")
     * @return the tokenizer
     * @throws java.io.IOException when the file cannot be read
     * @throws IllegalArgumentException when {@code spec} is neither
     */
    public static Tokenizer parse(String spec, String option) throws IOException {
        if (spec.equals(BYTE)) {
            return ByteTokenizer.withEndOfText();
        }
        Path p = Path.of(spec);
        if (!Files.isRegularFile(p) && !TokenizerFiles.present(p)) {
            throw new IllegalArgumentException(option
                    + ": expected 'byte', a tokenizer.json, a SentencePiece tokenizer.model or a directory holding one, got '"
                    + spec + "'");
        }
        return load(p);
    }

    /**
     * Loads a Hugging Face {@code tokenizer.json} (BPE, Unigram or WordPiece model) or a SentencePiece
     * {@code tokenizer.model} (BPE or Unigram); a directory is looked into for either, tokenizer.json first.
     *
     * @param path a tokenizer file, or a directory holding one
     * @return the tokenizer
     * @throws java.io.IOException when the file cannot be read
     * @throws IllegalArgumentException when a directory holds neither file
     */
    public static Tokenizer load(Path path) throws IOException {
        Path file = path;
        if (Files.isDirectory(path)) {
            file = Files.isRegularFile(path.resolve(TokenizerFiles.JSON))
                    ? path.resolve(TokenizerFiles.JSON)
                    : path.resolve(TokenizerFiles.SENTENCEPIECE);
        }
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException(
                    path + ": no " + TokenizerFiles.JSON + " or " + TokenizerFiles.SENTENCEPIECE);
        }
        if (isJson(file)) {
            return HfTokenizer.fromJson(file);
        }
        return SentencePieceTokenizer.load(file);
    }

    /** Whether a file is JSON (a tokenizer.json) rather than a serialized SentencePiece model: its first byte. */
    private static boolean isJson(Path file) throws IOException {
        try (var in = Files.newInputStream(file)) {
            int b;
            do {
                b = in.read();
            } while (b == ' ' || b == '\n' || b == '\r' || b == '\t');
            return b == '{';
        }
    }

    /** The model type of a tokenizer.json without a "type" field: BPE when it has merges, Unigram when its vocab is a list. */
    static String modelType(JsonNode root) {
        JsonNode m = root.path("model");
        return m.hasNonNull("type")
                ? m.get("type").asText()
                : (m.has("merges") ? "BPE" : m.has("vocab") && m.get("vocab").isArray() ? "Unigram" : "(none)");
    }
}
