package fulgur.models.hf;

import fulgur.tokenizer.ByteTokenizer;
import fulgur.tokenizer.Tokenizer;
import fulgur.tokenizer.TokenizerFiles;
import fulgur.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Where a model directory keeps what generation, serving, evaluation and fine-tuning need besides the weights: its
 * tokenizer. A reference checkpoint and a fulgur checkpoint keep {@code tokenizer.json} (or a SentencePiece
 * {@code tokenizer.model}) inside themselves; a training run's directory holds them in {@code checkpoint/} (and, from
 * older runs, beside it). Without tokenizer files the model is byte-level. This is the one place that decides.
 */
public final class ModelDirectory {
    /** The largest vocabulary a byte-level model has: 257 ids padded to a multiple of 128. */
    static final int BYTE_LEVEL_MAX_VOCAB = 384;

    private ModelDirectory() {}

    /**
     * The directory that holds the tokenizer files of the model in {@code dir}, or null when it has none.
     *
     * @param dir a model directory
     * @return the tokenizer directory, or null
     */
    public static Path tokenizerRoot(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        Path[] candidates = {abs, abs.resolve("checkpoint"), abs.resolve("checkpoint.old"), abs.getParent()};
        for (int i = 0; i < candidates.length; i++) {
            Path c = candidates[i];
            boolean parentOfCheckpoint = i == 3
                    && abs.getFileName() != null
                    && abs.getFileName().toString().startsWith("checkpoint");
            if ((i < 3 || parentOfCheckpoint) && TokenizerFiles.present(c)) {
                return c;
            }
        }
        return null;
    }

    /**
     * The model's tokenizer: its tokenizer files, or the byte-level tokenizer with an end-of-text token.
     *
     * @param dir a model directory
     * @return the tokenizer
     * @throws java.io.IOException when the tokenizer files cannot be read
     */
    public static Tokenizer tokenizer(Path dir) throws IOException {
        Path root = tokenizerRoot(dir);
        return root == null ? ByteTokenizer.withEndOfText() : Tokenizers.load(root);
    }

    /**
     * The model's tokenizer, checked against the model's vocabulary of {@code modelVocab} ids: see
     * {@link #checkVocabulary}.
     *
     * @param dir a model directory
     * @param modelVocab the model's vocabulary size
     * @return the tokenizer
     * @throws java.io.IOException when the tokenizer files cannot be read
     * @throws IllegalArgumentException when the tokenizer does not fit the model
     */
    public static Tokenizer tokenizer(Path dir, int modelVocab) throws IOException {
        Tokenizer tok = tokenizer(dir);
        Path root = tokenizerRoot(dir);
        checkVocabulary(
                tok,
                modelVocab,
                root == null
                        ? "the byte-level tokenizer (" + dir + " has no tokenizer files)"
                        : "the tokenizer in " + root);
        return tok;
    }

    /**
     * Refuses a tokenizer whose ids do not fit the model: more ids than the model's vocabulary, or, for the byte-level
     * tokenizer taken when a directory has no tokenizer files, a model vocabulary far larger than bytes (a model trained
     * with another tokenizer whose files are missing). {@code which} says where the tokenizer came from.
     *
     * @param tok the tokenizer
     * @param modelVocab the model's vocabulary size
     * @param which where the tokenizer came from, for the error
     * @throws IllegalArgumentException when the tokenizer does not fit the model
     */
    public static void checkVocabulary(Tokenizer tok, int modelVocab, String which) {
        if (tok.vocabSize() > modelVocab) {
            throw new IllegalArgumentException(
                    "the model's vocabulary has " + modelVocab + " ids but " + which + " has " + tok.vocabSize()
                            + ": they do not belong together (give the model's own tokenizer with --tokenizer)");
        }
        if (tok instanceof ByteTokenizer && modelVocab > BYTE_LEVEL_MAX_VOCAB) {
            throw new IllegalArgumentException(
                    "the model's vocabulary has " + modelVocab + " ids but " + which + " has only " + tok.vocabSize()
                            + ": the model was trained with another tokenizer; put its tokenizer.json or tokenizer.model beside config.json or give it with --tokenizer");
        }
    }

    /**
     * A name for the model: the run's (or checkpoint's) directory name.
     *
     * @param dir a model, run or checkpoint directory
     * @return the name
     */
    public static String name(Path dir) {
        Path abs = dir.toAbsolutePath().normalize();
        Path name = abs.getFileName();
        if (name != null
                && name.toString().equals("checkpoint")
                && abs.getParent() != null
                && abs.getParent().getFileName() != null) {
            name = abs.getParent().getFileName();
        }
        return name == null ? "model" : name.toString();
    }
}
