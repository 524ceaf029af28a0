package fulgur.models.hf;

import fulgur.tokenizer.BpeTokenizer;
import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a model directory keeps what generation needs besides the weights: a training run's directory keeps
 * {@code tokenizer.json} beside {@code checkpoint/}, a reference checkpoint inside itself, a fulgur checkpoint
 * ({@code run/checkpoint}) one level up. Without a tokenizer.json the model is byte-level.
 */
public final class ModelDirectory {
    private ModelDirectory() {}

    /** The directory that holds (or would hold) the tokenizer.json of the model in {@code dir}. */
    public static Path tokenizerRoot(Path dir) {
        boolean self = Files.isRegularFile(dir.resolve("tokenizer.json")) || Files.isDirectory(dir.resolve("checkpoint"));
        return self ? dir : dir.toAbsolutePath().getParent();
    }

    /** The model's tokenizer: its tokenizer.json, or the byte-level tokenizer with an end-of-text token. */
    public static Tokenizer tokenizer(Path dir) throws IOException {
        Path root = tokenizerRoot(dir);
        Path saved = root == null ? null : root.resolve("tokenizer.json");
        return saved != null && Files.isRegularFile(saved) ? BpeTokenizer.fromJson(saved) : ByteTokenizer.withEndOfText();
    }

    /** A name for the model: the run's (or checkpoint's) directory name. */
    public static String name(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        Path name = abs.getFileName();
        if (name != null && name.toString().equals("checkpoint") && abs.getParent() != null && abs.getParent().getFileName() != null) {
            name = abs.getParent().getFileName();
        }
        return name == null ? "model" : name.toString();
    }
}
