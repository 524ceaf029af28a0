package fulgur.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.tokenizer.HfTokenizer;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CharTokenizerJsonTest {

    @Test
    void fulgursReaderEncodesEachCharacterToItsOwnId(@TempDir Path dir) throws Exception {
        int vocab = 1000;
        CharTokenizerJson.write(dir, vocab);
        HfTokenizer tok = HfTokenizer.fromJson(dir);
        assertThat(tok.vocabSize()).isEqualTo(vocab);
        assertThat(tok.bosId()).hasValue(CharTokenizerJson.BOS);
        assertThat(tok.eosId()).hasValue(CharTokenizerJson.EOS);
        String text = CharTokenizerJson.text(3, 500, vocab);
        int[] ids = tok.encode(text);
        assertThat(ids).hasSize(500);
        int[] cps = text.codePoints().toArray();
        for (int i = 0; i < ids.length; i++) {
            assertThat(ids[i])
                    .isBetween(CharTokenizerJson.FIRST_CHAR, vocab - 1)
                    .isEqualTo(CharTokenizerJson.id(cps[i]));
            assertThat(CharTokenizerJson.codePoint(ids[i])).isEqualTo(cps[i]);
        }
        assertThat(tok.decode(ids)).isEqualTo(text);
    }

    @Test
    void charactersOutsideTheVocabularyFallBackToBytes(@TempDir Path dir) throws Exception {
        CharTokenizerJson.write(dir, 300);
        HfTokenizer tok = HfTokenizer.fromJson(dir);
        // 'A' is no piece: its UTF-8 byte 0x41; 'é' is two bytes
        assertThat(tok.encode("A")).containsExactly(CharTokenizerJson.FIRST_BYTE + 0x41);
        assertThat(tok.encode("é"))
                .containsExactly(CharTokenizerJson.FIRST_BYTE + 0xC3, CharTokenizerJson.FIRST_BYTE + 0xA9);
        assertThat(tok.decode(tok.encode("Aé"))).isEqualTo("Aé");
        assertThat(CharTokenizerJson.id('A')).isEqualTo(-1);
    }

    @Test
    void piecesRunFromIdeographsIntoHangul() {
        int ideographs = 0x9FFF - 0x4E00 + 1;
        assertThat(CharTokenizerJson.codePoint(CharTokenizerJson.FIRST_CHAR)).isEqualTo(0x4E00);
        assertThat(CharTokenizerJson.codePoint(CharTokenizerJson.FIRST_CHAR + ideographs - 1))
                .isEqualTo(0x9FFF);
        assertThat(CharTokenizerJson.codePoint(CharTokenizerJson.FIRST_CHAR + ideographs))
                .isEqualTo(0xAC00);
        assertThat(CharTokenizerJson.id(0xAC00)).isEqualTo(CharTokenizerJson.FIRST_CHAR + ideographs);
        assertThat(CharTokenizerJson.maxVocab()).isGreaterThanOrEqualTo(32000);
    }

    @Test
    void vocabulariesItCannotFillAreRefused() {
        assertThatThrownBy(() -> CharTokenizerJson.json(CharTokenizerJson.FIRST_CHAR))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("vocabulary size");
        assertThatThrownBy(() -> CharTokenizerJson.json(CharTokenizerJson.maxVocab() + 1))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> CharTokenizerJson.codePoint(CharTokenizerJson.FIRST_CHAR - 1))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
