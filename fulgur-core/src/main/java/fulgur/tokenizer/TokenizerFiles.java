package fulgur.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

/**
 * The files that make up a model's tokenizer in the Hugging Face layout: {@code tokenizer.json} (or a SentencePiece
 * {@code tokenizer.model}) with its {@code tokenizer_config.json} and {@code special_tokens_map.json}. Checkpoints and
 * conversions carry them beside the weights, so a model directory is self-contained.
 */
public final class TokenizerFiles {
    /** A Hugging Face tokenizer file's standard name. */
    public static final String JSON = "tokenizer.json";
    /** A SentencePiece model file's standard name. */
    public static final String SENTENCEPIECE = "tokenizer.model";
    /** The tokenizer settings file of Hugging Face model directories (BOS/EOS, chat template). */
    public static final String CONFIG = "tokenizer_config.json";
    /** The special tokens file of Hugging Face model directories. */
    public static final String SPECIAL_TOKENS_MAP = "special_tokens_map.json";

    /** Every file name that belongs to a tokenizer, the model files first. */
    public static final List<String> NAMES = List.of(JSON, SENTENCEPIECE, CONFIG, SPECIAL_TOKENS_MAP);

    private TokenizerFiles() {}

    /**
     * Whether {@code dir} holds a tokenizer model file (tokenizer.json or tokenizer.model).
     *
     * @param dir a directory, or null
     * @return true when it holds one
     */
    public static boolean present(Path dir) {
        return dir != null
                && (Files.isRegularFile(dir.resolve(JSON)) || Files.isRegularFile(dir.resolve(SENTENCEPIECE)));
    }

    /**
     * The tokenizer files {@code dir} holds, in {@link #NAMES} order.
     *
     * @param dir a directory, or null
     * @return the files, possibly none
     */
    public static List<Path> in(Path dir) {
        List<Path> out = new ArrayList<>();
        if (dir != null) {
            for (String n : NAMES) {
                if (Files.isRegularFile(dir.resolve(n))) {
                    out.add(dir.resolve(n));
                }
            }
        }
        return out;
    }

    /**
     * The tokenizer files that go with a tokenizer file given on its own (e.g. {@code --tokenizer path/tokenizer.json}):
     * the file itself, and its directory's tokenizer_config.json and special_tokens_map.json.
     *
     * @param tokenizerFile a tokenizer.json or tokenizer.model file
     * @return the files
     */
    public static List<Path> companions(Path tokenizerFile) {
        List<Path> out = new ArrayList<>();
        if (Files.isDirectory(tokenizerFile)) {
            return in(tokenizerFile);
        }
        out.add(tokenizerFile);
        Path dir = tokenizerFile.toAbsolutePath().getParent();
        for (String n : List.of(CONFIG, SPECIAL_TOKENS_MAP)) {
            if (dir != null && Files.isRegularFile(dir.resolve(n))) {
                out.add(dir.resolve(n));
            }
        }
        return out;
    }

    /**
     * Copies {@code files} into {@code dir}; a model file is saved under its standard name (a tokenizer.json given as
     * {@code bpe.json} becomes {@code tokenizer.json}, a SentencePiece model {@code tokenizer.model}).
     *
     * @param files tokenizer files
     * @param dir the directory to copy into, created if absent
     * @throws java.io.IOException when copying fails
     */
    public static void copy(List<Path> files, Path dir) throws IOException {
        Files.createDirectories(dir);
        for (Path f : files) {
            Files.copy(f, dir.resolve(standardName(f)), StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static String standardName(Path f) {
        String name = f.getFileName().toString();
        if (NAMES.contains(name)) {
            return name;
        }
        return name.endsWith(".model") ? SENTENCEPIECE : JSON;
    }
}
