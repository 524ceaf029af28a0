package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import fulgur.io.MalformedFileException;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.ModelProto;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.ModelProto.SentencePiece.Type;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.NormalizerSpec;
import fulgur.tokenizer.sentencepiece.SentencePieceModel.TrainerSpec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** SentencePiece model files built piece by piece, with segmentations worked out by hand. */
class SentencePieceTokenizerTest {
    @TempDir
    Path dir;

    /** ids: 0 <unk>, 1 <s>, 2 </s>, then the given (piece, score, type) triples. */
    private SentencePieceTokenizer model(
            TrainerSpec.ModelType type, boolean byteFallback, NormalizerSpec normalizer, Object... pieces)
            throws Exception {
        ModelProto.Builder m = ModelProto.newBuilder();
        m.addPieces(ModelProto.SentencePiece.newBuilder()
                .setPiece("<unk>")
                .setScore(0)
                .setType(Type.UNKNOWN));
        m.addPieces(ModelProto.SentencePiece.newBuilder()
                .setPiece("<s>")
                .setScore(0)
                .setType(Type.CONTROL));
        m.addPieces(ModelProto.SentencePiece.newBuilder()
                .setPiece("</s>")
                .setScore(0)
                .setType(Type.CONTROL));
        for (int i = 0; i < pieces.length; i += 3) {
            m.addPieces(ModelProto.SentencePiece.newBuilder()
                    .setPiece((String) pieces[i])
                    .setScore(((Number) pieces[i + 1]).floatValue())
                    .setType((Type) pieces[i + 2]));
        }
        m.setTrainerSpec(TrainerSpec.newBuilder().setModelType(type).setByteFallback(byteFallback));
        m.setNormalizerSpec(normalizer);
        Path f = dir.resolve("m" + System.nanoTime() + ".model");
        Files.write(f, m.build().toByteArray());
        return (SentencePieceTokenizer) Tokenizers.load(f);
    }

    static final NormalizerSpec DEFAULT = NormalizerSpec.newBuilder().build();

    @Test
    void normalizerAddsTheDummyPrefixAndRemovesExtraWhitespace() throws Exception {
        SentencePieceTokenizer t = model(TrainerSpec.ModelType.UNIGRAM, false, DEFAULT, "▁", -1, Type.NORMAL);
        assertThat(new String(
                        t.normalize("  hello   big  world ".getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8))
                .isEqualTo("▁hello▁big▁world");
        assertThat(t.normalize("   ".getBytes(StandardCharsets.UTF_8))).isEmpty();
        SentencePieceTokenizer keep = model(
                TrainerSpec.ModelType.UNIGRAM,
                false,
                NormalizerSpec.newBuilder().setRemoveExtraWhitespaces(false).build(),
                "▁",
                -1,
                Type.NORMAL);
        assertThat(new String(keep.normalize(" a  b ".getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8))
                .isEqualTo("▁▁a▁▁b▁");
        // malformed UTF-8 becomes U+FFFD, one byte at a time
        assertThat(new String(keep.normalize(new byte[] {'a', (byte) 0xFF}), StandardCharsets.UTF_8))
                .isEqualTo("▁a\uFFFD");
    }

    @Test
    void unigramFindsTheBestPathAndMergesUnknownRuns() throws Exception {
        // 3 ▁, 4 a, 5 b, 6 ▁ab, 7 ▁a, 8 c
        SentencePieceTokenizer t = model(
                TrainerSpec.ModelType.UNIGRAM,
                false,
                DEFAULT,
                "▁",
                -2,
                Type.NORMAL,
                "a",
                -2,
                Type.NORMAL,
                "b",
                -2,
                Type.NORMAL,
                "▁ab",
                -3,
                Type.NORMAL,
                "▁a",
                -2.5,
                Type.NORMAL,
                "c",
                -1,
                Type.NORMAL);
        // "▁ab": ▁ab -3 beats ▁a+b -4.5 and ▁+a+b -6
        assertThat(t.encode("ab")).containsExactly(6);
        // "▁abc": ▁ab + c
        assertThat(t.encode("abc")).containsExactly(6, 8);
        // x and y are unknown: one <unk> for the run
        assertThat(t.encode("axyc")).containsExactly(7, 0, 8);
        assertThat(t.decode(new int[] {6, 8})).isEqualTo("abc");
        assertThat(t.decode(new int[] {1, 7, 0, 8, 2})).isEqualTo("a ⁇ c");
    }

    @Test
    void bpeMergesTheHighestScoringPairFirst() throws Exception {
        // 3 ▁, 4 a, 5 b, 6 c, 7 ab (score -1), 8 bc (-0.5), 9 ▁a (-2), 10 abc (-3)
        SentencePieceTokenizer t = model(
                TrainerSpec.ModelType.BPE,
                false,
                DEFAULT,
                "▁",
                0,
                Type.NORMAL,
                "a",
                0,
                Type.NORMAL,
                "b",
                0,
                Type.NORMAL,
                "c",
                0,
                Type.NORMAL,
                "ab",
                -1,
                Type.NORMAL,
                "bc",
                -0.5,
                Type.NORMAL,
                "▁a",
                -2,
                Type.NORMAL,
                "abc",
                -3,
                Type.NORMAL);
        assertThat(t.isBpe()).isTrue();
        // ▁ a b c: bc (-0.5) first, then ▁a (-2); "abc" would need a+bc which is not a piece
        assertThat(t.encode("abc")).containsExactly(9, 8);
        // ▁ a b: ab (-1) before ▁a (-2)
        assertThat(t.encode("ab")).containsExactly(3, 7);
    }

    @Test
    void byteFallbackSpellsUnknownCharactersInBytes() throws Exception {
        Object[] pieces = new Object[3 * 258];
        pieces[0] = "▁";
        pieces[1] = -1;
        pieces[2] = Type.NORMAL;
        pieces[3] = "a";
        pieces[4] = -1;
        pieces[5] = Type.NORMAL;
        for (int b = 0; b < 256; b++) {
            pieces[6 + 3 * b] = String.format("<0x%02X>", b);
            pieces[7 + 3 * b] = 0;
            pieces[8 + 3 * b] = Type.BYTE;
        }
        for (TrainerSpec.ModelType type :
                new TrainerSpec.ModelType[] {TrainerSpec.ModelType.UNIGRAM, TrainerSpec.ModelType.BPE}) {
            SentencePieceTokenizer t = model(type, true, DEFAULT, pieces);
            int byteC3 = t.tokenId("<0xC3>").getAsInt();
            int byteA9 = t.tokenId("<0xA9>").getAsInt();
            assertThat(t.encode("aé")).as(type.name()).containsExactly(3, 4, byteC3, byteA9);
            assertThat(t.decode(t.encode("aé a"))).isEqualTo("aé a");
        }
    }

    @Test
    void precompiledRulesAndUserDefinedSymbolsApply() throws Exception {
        // a one-rule double-array trie: "A" -> "a"
        int[] units = new int[512];
        units[0] = 256 << 10; // root: children at 0 ^ 256
        units[256 ^ 'A'] = 'A' | (1 << 8) | (1 << 10); // label 'A', has a leaf, its value unit at (256 ^ 'A') ^ 1
        units[(256 ^ 'A') ^ 1] = 0x8000_0000; // value 0: offset of "a" in the strings
        ByteBuffer blob = ByteBuffer.allocate(4 + 4 * units.length + 2).order(ByteOrder.LITTLE_ENDIAN);
        blob.putInt(4 * units.length);
        for (int u : units) {
            blob.putInt(u);
        }
        blob.put((byte) 'a').put((byte) 0);
        NormalizerSpec rules = NormalizerSpec.newBuilder()
                .setName("lower-a")
                .setPrecompiledCharsmap(ByteString.copyFrom(blob.array()))
                .build();
        SentencePieceTokenizer t = model(
                TrainerSpec.ModelType.UNIGRAM,
                false,
                rules,
                "▁",
                -1,
                Type.NORMAL,
                "a",
                -1,
                Type.NORMAL,
                "<A>",
                0,
                Type.USER_DEFINED,
                "B",
                -1,
                Type.NORMAL);
        assertThat(new String(t.normalize("ABA<A>".getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8))
                .isEqualTo("▁aBa<A>");
        // ▁ a <A>: the user-defined symbol is one piece, never split or normalized
        assertThat(t.encode("A<A>")).containsExactly(3, 4, 5);
    }

    @Test
    void aFileThatIsNoModelIsRefused() throws Exception {
        Path f = dir.resolve("tokenizer.model");
        Files.write(f, new byte[] {(byte) 0xFF, 0x01, 0x02});
        assertThatThrownBy(() -> Tokenizers.load(f))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("not a SentencePiece model");
        Files.write(f, ModelProto.newBuilder().build().toByteArray());
        assertThatThrownBy(() -> Tokenizers.load(f)).hasMessageContaining("has no pieces");
    }
}
