package fulgur.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;

/**
 * The simplest tokenizer: ids 0..255 are the bytes of the UTF-8 text, and optional special tokens take the ids
 * after them (256, 257, ...). Any byte sequence encodes and decodes back exactly. If a special token named
 * {@code <|endoftext|>} (or {@code </s>}, {@code <eos>}) is present it is the EOS token; {@code <|begin_of_text|>}
 * ({@code <s>}, {@code <bos>}) is the BOS token.
 */
public final class ByteTokenizer implements Tokenizer {

    /** The conventional end-of-text token. */
    public static final String END_OF_TEXT = "<|endoftext|>";

    private final List<String> specials;
    private final Map<String, Integer> specialIds;
    private final AddedVocabulary added;
    private final OptionalInt bos;
    private final OptionalInt eos;

    /** 256 byte ids, no special tokens. */
    public ByteTokenizer() {
        this(List.of());
    }

    /**
     * 256 byte ids followed by {@code specials} (distinct, non-empty strings).
     *
     * @param specials the special tokens, ids 256 onwards
     * @throws IllegalArgumentException for an empty or repeated special token
     */
    public ByteTokenizer(List<String> specials) {
        this.specials = List.copyOf(specials);
        Map<String, Integer> ids = new LinkedHashMap<>();
        List<AddedVocabulary.AddedToken> tokens = new ArrayList<>();
        for (int i = 0; i < this.specials.size(); i++) {
            String s = this.specials.get(i);
            if (s.isEmpty()) {
                throw new IllegalArgumentException("special token " + i + " is empty");
            }
            if (ids.put(s, 256 + i) != null) {
                throw new IllegalArgumentException("special token \"" + s + "\" is listed twice");
            }
            tokens.add(new AddedVocabulary.AddedToken(256 + i, s, true, false, false, false));
        }
        this.specialIds = Collections.unmodifiableMap(ids);
        this.added = new AddedVocabulary(tokens);
        this.bos = firstOf(ids, "<|begin_of_text|>", "<s>", "<bos>", "<|startoftext|>");
        this.eos = firstOf(ids, END_OF_TEXT, "<|end_of_text|>", "</s>", "<eos>");
    }

    /**
     * A byte tokenizer with {@code <|endoftext|>} as id 256 (its EOS).
     *
     * @return the tokenizer, 257 ids
     */
    public static ByteTokenizer withEndOfText() {
        return new ByteTokenizer(List.of(END_OF_TEXT));
    }

    private static OptionalInt firstOf(Map<String, Integer> ids, String... names) {
        for (String n : names) {
            Integer id = ids.get(n);
            if (id != null) {
                return OptionalInt.of(id);
            }
        }
        return OptionalInt.empty();
    }

    @Override
    public int[] encode(String text) {
        return encodeSegments(text, true);
    }

    @Override
    public int[] encodeOrdinary(String text) {
        return encodeSegments(text, false);
    }

    private int[] encodeSegments(String text, boolean withSpecials) {
        if (specials.isEmpty() || !withSpecials) {
            return bytesToIds(Utf8.encodeEscaped(text));
        }
        IntList out = new IntList(text.length() + 16);
        for (AddedVocabulary.Segment s : added.split(text, true)) {
            switch (s) {
                case AddedVocabulary.Segment.Token t -> out.add(t.id());
                case AddedVocabulary.Segment.Text t -> {
                    for (byte b : Utf8.encodeEscaped(t.text())) {
                        out.add(b & 0xFF);
                    }
                }
            }
        }
        return out.toArray();
    }

    @Override
    public int[] encode(byte[] bytes) {
        return specials.isEmpty() ? bytesToIds(bytes) : encode(Utf8.decodeEscaped(bytes));
    }

    private static int[] bytesToIds(byte[] bytes) {
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = bytes[i] & 0xFF;
        }
        return ids;
    }

    @Override
    public byte[] decodeBytes(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length);
        for (int id : ids) {
            if (id >= 0 && id < 256) {
                out.write(id);
            } else {
                out.writeBytes(token(id).getBytes(StandardCharsets.UTF_8));
            }
        }
        return out.toByteArray();
    }

    @Override
    public int vocabSize() {
        return 256 + specials.size();
    }

    @Override
    public OptionalInt bosId() {
        return bos;
    }

    @Override
    public OptionalInt eosId() {
        return eos;
    }

    @Override
    public OptionalInt tokenId(String token) {
        Integer id = specialIds.get(token);
        if (id != null) {
            return OptionalInt.of(id);
        }
        byte[] b = token.getBytes(StandardCharsets.UTF_8);
        return b.length == 1 ? OptionalInt.of(b[0] & 0xFF) : OptionalInt.empty();
    }

    /** Byte ids are shown as their byte-level characters ({@code "a"}, {@code "Ġ"} for space); special ids as their text. */
    @Override
    public String token(int id) {
        if (id >= 0 && id < 256) {
            return String.valueOf(ByteLevel.charOf(id));
        }
        if (id >= 256 && id < vocabSize()) {
            return specials.get(id - 256);
        }
        throw new IllegalArgumentException("token id " + id + " is out of range [0, " + vocabSize() + ")");
    }

    @Override
    public boolean isSpecial(int id) {
        return id >= 256 && id < vocabSize();
    }

    @Override
    public Map<String, Integer> specialTokens() {
        return specialIds;
    }

    @Override
    public String toString() {
        return "ByteTokenizer[256 bytes + " + specials + "]";
    }
}
