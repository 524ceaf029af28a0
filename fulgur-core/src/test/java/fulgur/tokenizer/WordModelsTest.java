package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Unigram and WordPiece tokenizer.json models, on vocabularies small enough to work out by hand. */
class WordModelsTest {
    @TempDir
    Path dir;

    private Tokenizer unigram(boolean byteFallback, String... pieceScore) throws Exception {
        ObjectNode root = Json.mapper().createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "Unigram");
        model.put("unk_id", 0);
        model.put("byte_fallback", byteFallback);
        ArrayNode vocab = model.putArray("vocab");
        vocab.addArray().add("<unk>").add(0.0);
        for (int i = 0; i < pieceScore.length; i += 2) {
            vocab.addArray().add(pieceScore[i]).add(Double.parseDouble(pieceScore[i + 1]));
        }
        Path f = dir.resolve("u" + System.nanoTime() + ".json");
        Files.writeString(f, root.toString());
        return Tokenizers.load(f);
    }

    @Test
    void unigramTakesTheSegmentationWithTheHighestTotalScore() throws Exception {
        // ids: 1 a, 2 b, 3 ab, 4 abc, 5 c, 6 bc
        Tokenizer t = unigram(false, "a", "-1", "b", "-1", "ab", "-1.5", "abc", "-4", "c", "-1", "bc", "-1.2");
        // "abc": ab+c = -2.5, a+bc = -2.2, abc = -4, a+b+c = -3  ->  a + bc
        assertThat(t.encode("abc")).containsExactly(1, 6);
        // "ab": ab -1.5 beats a+b -2
        assertThat(t.encode("ab")).containsExactly(3);
        // unknown characters cost min score - 10 each and fuse into one <unk>
        assertThat(t.encode("axyb")).containsExactly(1, 0, 2);
        // without a decoder, tokenizers joins the pieces with spaces
        assertThat(t.decode(new int[] {1, 6})).isEqualTo("a bc");
    }

    @Test
    void unigramByteFallbackSpellsUnknownStretchesInBytes() throws Exception {
        String[] pieces = new String[2 * 256 + 2];
        for (int b = 0; b < 256; b++) {
            pieces[2 * b] = String.format("<0x%02X>", b);
            pieces[2 * b + 1] = "-20";
        }
        pieces[512] = "a";
        pieces[513] = "-1";
        Tokenizer t = unigram(true, pieces);
        int a = t.tokenId("a").getAsInt();
        // "é" (C3 A9) has no piece: its two byte tokens
        assertThat(t.encode("aé"))
                .containsExactly(
                        a, t.tokenId("<0xC3>").getAsInt(), t.tokenId("<0xA9>").getAsInt());
    }

    @Test
    void wordPieceMatchesLongestFirstWithTheContinuingPrefix() throws Exception {
        ObjectNode root = Json.mapper().createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "WordPiece");
        model.put("unk_token", "[UNK]");
        model.put("max_input_chars_per_word", 10);
        ObjectNode vocab = model.putObject("vocab");
        String[] tokens = {"[UNK]", "un", "##aff", "##able", "aff", "##a", "!", "run", "##ning", "cafe"};
        for (int i = 0; i < tokens.length; i++) {
            vocab.put(tokens[i], i);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "BertNormalizer");
        norm.put("lowercase", true);
        root.putObject("pre_tokenizer").put("type", "BertPreTokenizer");
        root.putObject("decoder").put("type", "WordPiece");
        Path f = dir.resolve("wp.json");
        Files.writeString(f, root.toString());
        Tokenizer t = Tokenizers.load(f);
        // lowercased, split at spaces and punctuation; "unaffable" -> un ##aff ##able
        assertThat(t.encode("UnAffable!")).containsExactly(1, 2, 3, 6);
        // a word with an unmatched part is one [UNK]; a word longer than 10 characters too
        assertThat(t.encode("unxyz running")).containsExactly(0, 7, 8);
        assertThat(t.encode("unaffableaffable")).containsExactly(0);
        // accents stripped with lowercase (BERT uncased)
        assertThat(t.encode("Café")).containsExactly(9);
        assertThat(t.decode(new int[] {1, 2, 3, 6, 7, 8})).isEqualTo("unaffable! running");
    }

    @Test
    void lowercaseGoesCharacterByCharacterAsTokenizersDoes() {
        // Rust's char::to_lowercase has no final-sigma rule: ΟΔΟΣ -> οδοσ (String.toLowerCase would end in ς)
        assertThat(Normalizer.lowercase("ΟΔΟΣ Café İ")).isEqualTo("οδοσ café i\u0307");
        assertThat(new Normalizer.Bert(false, false, false, true).normalize("ΟΔΟΣ"))
                .isEqualTo("οδοσ");
        assertThat(new Normalizer.Lowercase().normalize("ΟΔΟΣ")).isEqualTo("οδοσ");
    }
}
