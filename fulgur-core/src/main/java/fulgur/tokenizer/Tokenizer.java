package fulgur.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.OptionalInt;

/**
 * Turns text into token ids and back. Implementations are immutable and safe to share between threads.
 *
 * <p>{@link #encode(String)} recognizes special tokens (e.g. {@code <|endoftext|>}) written in the text and emits
 * their ids; {@link #encodeOrdinary(String)} treats such strings as plain text, which is what untrusted input
 * should get. {@link #encode(byte[])} accepts any bytes, valid UTF-8 or not; for byte-level tokenizers
 * {@code decodeBytes(encode(bytes))} gives the bytes back exactly. Bytes that are not well-formed UTF-8 travel through
 * text processing as "surrogate escapes" (byte {@code b} as the lone surrogate {@code U+DC00 + b}, like Python's
 * {@code surrogateescape}); in a {@code String} given to {@link #encode(String)}, such a lone surrogate therefore
 * stands for its raw byte, and any other lone surrogate is encoded as U+FFFD.
 */
public interface Tokenizer {

    /**
     * Encodes text, recognizing special tokens written in it.
     *
     * @param text the text
     * @return the token ids
     */
    int[] encode(String text);

    /**
     * Encodes text without recognizing special tokens: their strings are tokenized like any other text.
     *
     * @param text the text
     * @return the token ids
     */
    int[] encodeOrdinary(String text);

    /**
     * Encodes raw bytes, which need not be valid UTF-8: valid stretches are encoded as text (special tokens
     * recognized), the others byte by byte (byte-level tokens or byte-fallback tokens).
     *
     * @param bytes the bytes
     * @return the token ids
     */
    int[] encode(byte[] bytes);

    /**
     * The bytes the ids stand for, exactly (no replacement of invalid UTF-8).
     *
     * @param ids token ids, each in [0, vocabSize())
     * @return the bytes
     * @throws IllegalArgumentException when an id is out of range
     */
    byte[] decodeBytes(int[] ids);

    /**
     * The text the ids stand for; byte sequences that are not valid UTF-8 become U+FFFD.
     *
     * @param ids token ids, each in [0, vocabSize())
     * @return the text
     * @throws IllegalArgumentException when an id is out of range
     */
    default String decode(int[] ids) {
        return new String(decodeBytes(ids), StandardCharsets.UTF_8);
    }

    /**
     * Number of ids: every id is in {@code [0, vocabSize())}.
     *
     * @return the count
     */
    int vocabSize();

    /**
     * The id of the beginning-of-sequence token, if the tokenizer has one.
     *
     * @return the id, or empty
     */
    OptionalInt bosId();

    /**
     * The id of the end-of-sequence (end-of-text) token, if the tokenizer has one; used to separate documents.
     *
     * @return the id, or empty
     */
    OptionalInt eosId();

    /**
     * The id of a token given as its string in the vocabulary (e.g. {@code "Ġthe"} or {@code "<|endoftext|>"}).
     *
     * @param token the token's vocabulary string
     * @return the id, or empty when the vocabulary lacks it
     */
    OptionalInt tokenId(String token);

    /**
     * The vocabulary string of id {@code id}.
     *
     * @param id the id
     * @return the string
     * @throws IllegalArgumentException when the id is out of range
     */
    String token(int id);

    /**
     * Whether {@code id} is a special token (control tokens such as BOS/EOS).
     *
     * @param id the id
     * @return true for a special token
     */
    boolean isSpecial(int id);

    /**
     * The special tokens, string to id.
     *
     * @return the tokens, string to id
     */
    Map<String, Integer> specialTokens();
}
