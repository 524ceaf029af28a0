package fulgur.bench;

import fulgur.io.AtomicFiles;
import fulgur.io.Json;
import fulgur.tensor.Rng;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Llama-2-style {@code tokenizer.json} (SentencePiece BPE with byte fallback) whose pieces are single characters:
 * {@code <unk>}, {@code <s>}, {@code </s>}, the 256 byte tokens {@code <0x00>..<0xFF>}, then one token per code point
 * (CJK ideographs, then Hangul syllables) up to the vocabulary size, and no merges. Any Llama tokenizer reader
 * (fulgur's, Jlama's) encodes a string of those code points to exactly one id per character, so a prompt of a chosen
 * token count is written as text and both readers see the same ids. For decoding benchmarks of random-weight models,
 * where what the tokens mean does not matter but their count and the vocabulary size do.
 */
public final class CharTokenizerJson {
    /** Ids of the special tokens and the first byte token. */
    public static final int UNK = 0;

    public static final int BOS = 1;
    public static final int EOS = 2;
    public static final int FIRST_BYTE = 3;
    /** The first id of a character piece. */
    public static final int FIRST_CHAR = FIRST_BYTE + 256;

    private static final int[][] RANGES = {{0x4E00, 0x9FFF}, {0xAC00, 0xD7A3}};

    private CharTokenizerJson() {}

    /** The largest vocabulary this writer can fill. */
    public static int maxVocab() {
        int n = FIRST_CHAR;
        for (int[] r : RANGES) {
            n += r[1] - r[0] + 1;
        }
        return n;
    }

    /** The code point of character piece {@code id} ({@code id >= FIRST_CHAR}). */
    public static int codePoint(int id) {
        int i = id - FIRST_CHAR;
        if (i < 0) {
            throw new IllegalArgumentException(
                    "id " + id + " is not a character piece (those start at " + FIRST_CHAR + ")");
        }
        for (int[] r : RANGES) {
            int n = r[1] - r[0] + 1;
            if (i < n) {
                return r[0] + i;
            }
            i -= n;
        }
        throw new IllegalArgumentException(
                "id " + id + " is beyond the " + maxVocab() + " pieces this tokenizer can hold");
    }

    /** The id of the character piece for {@code codePoint}, or -1 if it is none. */
    public static int id(int codePoint) {
        int base = FIRST_CHAR;
        for (int[] r : RANGES) {
            if (codePoint >= r[0] && codePoint <= r[1]) {
                return base + codePoint - r[0];
            }
            base += r[1] - r[0] + 1;
        }
        return -1;
    }

    /** Writes {@code dir/tokenizer.json} with {@code vocab} tokens. */
    public static void write(Path dir, int vocab) throws IOException {
        AtomicFiles.writeString(dir.resolve("tokenizer.json"), Json.toJson(json(vocab)) + "\n");
    }

    static Map<String, Object> json(int vocab) {
        if (vocab <= FIRST_CHAR || vocab > maxVocab()) {
            throw new IllegalArgumentException(
                    "vocabulary size must be in (" + FIRST_CHAR + ", " + maxVocab() + "], got " + vocab);
        }
        Map<String, Integer> pieces = new LinkedHashMap<>();
        pieces.put("<unk>", UNK);
        pieces.put("<s>", BOS);
        pieces.put("</s>", EOS);
        for (int b = 0; b < 256; b++) {
            pieces.put(String.format("<0x%02X>", b), FIRST_BYTE + b);
        }
        for (int id = FIRST_CHAR; id < vocab; id++) {
            pieces.put(Character.toString(codePoint(id)), id);
        }
        List<Map<String, Object>> added = new ArrayList<>();
        for (String special : List.of("<unk>", "<s>", "</s>")) {
            Map<String, Object> t = new LinkedHashMap<>();
            t.put("id", pieces.get(special));
            t.put("content", special);
            t.put("single_word", false);
            t.put("lstrip", false);
            t.put("rstrip", false);
            t.put("normalized", false);
            t.put("special", true);
            added.add(t);
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", "<unk>");
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("ignore_merges", false);
        model.put("vocab", pieces);
        model.put("merges", List.of());
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", added);
        root.put("normalizer", null);
        root.put("pre_tokenizer", null);
        root.put("post_processor", null);
        root.put(
                "decoder",
                Map.of(
                        "type",
                        "Sequence",
                        "decoders",
                        List.of(Map.of("type", "ByteFallback"), Map.of("type", "Fuse"))));
        root.put("model", model);
        return root;
    }

    /** A text of {@code n} character pieces drawn from a vocabulary of {@code vocab} tokens (one token each). */
    public static String text(long seed, int n, int vocab) {
        Rng r = new Rng(seed);
        StringBuilder sb = new StringBuilder(n);
        for (int i = 0; i < n; i++) {
            sb.appendCodePoint(codePoint(FIRST_CHAR + r.nextInt(vocab - FIRST_CHAR)));
        }
        return sb.toString();
    }
}
