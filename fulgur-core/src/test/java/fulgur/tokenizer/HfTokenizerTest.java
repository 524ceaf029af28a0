package fulgur.tokenizer;

import static fulgur.tokenizer.TinyTokenizers.m;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import fulgur.io.Json;
import fulgur.io.MalformedFileException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfTokenizerTest {

    @TempDir
    Path dir;

    /** ids 0..255 are bytes; merges add 256 "Ġt", 257 "he", 258 "Ġthe", 259 "ll", 260 "hell", 261 "hello"; 262 is <|endoftext|>. */
    static final List<String[]> GPT2_MERGES =
            List.of(m("Ġ", "t"), m("h", "e"), m("Ġt", "he"), m("l", "l"), m("he", "ll"), m("hell", "o"));

    private HfTokenizer gpt2(boolean arrayMerges) throws IOException {
        return HfTokenizer.fromJson(TinyTokenizers.write(
                dir,
                "gpt2/tokenizer.json",
                TinyTokenizers.byteLevel(GPT2_MERGES, arrayMerges, List.of("<|endoftext|>"))));
    }

    private static int b(char c) {
        return c;
    }

    @Test
    void encodesWithMergesWorkedOutByHand() throws IOException {
        for (boolean arrayForm : new boolean[] {false, true}) {
            HfTokenizer t = gpt2(arrayForm);
            assertThat(t.vocabSize()).isEqualTo(263);
            // "hello" -> h e l l o -> he, ll -> hell -> hello ; " the" -> Ġ t h e -> Ġt, he -> Ġthe
            assertThat(t.encode("hello the")).containsExactly(261, 258);
            // "hel" -> he l (ll needs two l's)
            assertThat(t.encode("hel")).containsExactly(257, b('l'));
            // "the" without a leading space: t h e -> t he
            assertThat(t.encode("the")).containsExactly(b('t'), 257);
            // punctuation and digits split by the GPT-2 pattern: "hello, the 42!"
            assertThat(t.encode("hello, the 42!")).containsExactly(261, b(','), 258, b(' '), b('4'), b('2'), b('!'));
            assertThat(t.decode(t.encode("hello, the 42!"))).isEqualTo("hello, the 42!");
        }
    }

    @Test
    void lowerRankMergesWinOverLeftmostOnes() throws IOException {
        // rank 0: "b c", rank 1: "a b"  =>  "abc" becomes a + bc, not ab + c
        HfTokenizer t = HfTokenizer.fromJson(TinyTokenizers.write(
                dir, "rank.json", TinyTokenizers.byteLevel(List.of(m("b", "c"), m("a", "b")), false, List.of())));
        int bc = t.tokenId("bc").orElseThrow();
        int ab = t.tokenId("ab").orElseThrow();
        assertThat(t.encode("abc")).containsExactly(b('a'), bc);
        assertThat(t.encode("ab")).containsExactly(ab);
        assertThat(t.encode("abab")).containsExactly(ab, ab);
        // overlapping pairs: "aaa" with merge "a a" -> aa a
        HfTokenizer t2 = HfTokenizer.fromJson(TinyTokenizers.write(
                dir, "aa.json", TinyTokenizers.byteLevel(List.<String[]>of(m("a", "a")), false, List.of())));
        int aa = t2.tokenId("aa").orElseThrow();
        assertThat(t2.encode("aaa")).containsExactly(aa, b('a'));
        assertThat(t2.encode("aaaa")).containsExactly(aa, aa);
    }

    @Test
    void specialTokensAreMatchedInRawTextAndKeptWhole() throws IOException {
        HfTokenizer t = gpt2(false);
        assertThat(t.encode("hello<|endoftext|> the")).containsExactly(261, 262, 258);
        assertThat(t.encode("<|endoftext|><|endoftext|>")).containsExactly(262, 262);
        assertThat(t.isSpecial(262)).isTrue();
        assertThat(t.isSpecial(261)).isFalse();
        assertThat(t.specialTokens()).containsEntry("<|endoftext|>", 262);
        assertThat(t.eosId()).hasValue(262);
        assertThat(t.bosId()).hasValue(262); // GPT-2 uses <|endoftext|> for both
        assertThat(t.decode(new int[] {261, 262, 258})).isEqualTo("hello<|endoftext|> the");
        // ordinary encoding treats the special string as text
        int[] ordinary = t.encodeOrdinary("<|endoftext|>");
        assertThat(ordinary).doesNotContain(262).hasSizeGreaterThan(1);
        assertThat(t.decode(ordinary)).isEqualTo("<|endoftext|>");
    }

    @Test
    void specialTokenOptionsLstripRstripAndSingleWord() throws IOException {
        ObjectNode root = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of("<mask>", "<w>"));
        ObjectNode mask = (ObjectNode) root.get("added_tokens").get(0);
        mask.put("lstrip", true);
        mask.put("rstrip", true);
        ObjectNode w = (ObjectNode) root.get("added_tokens").get(1);
        w.put("single_word", true);
        w.put("special", false);
        HfTokenizer t = HfTokenizer.fromJson(TinyTokenizers.write(dir, "opts.json", root));
        int maskId = t.tokenId("<mask>").orElseThrow();
        int wId = t.tokenId("<w>").orElseThrow();
        assertThat(t.encode("hello  <mask>  the")).containsExactly(261, maskId, b('t'), 257);
        assertThat(t.encode("hello <w> the")).containsExactly(261, b(' '), wId, 258);
        assertThat(t.encode("hello<w>the")).doesNotContain(wId);
        assertThat(t.isSpecial(wId)).isFalse();
        // non-special added tokens are matched even by encodeOrdinary
        assertThat(t.encodeOrdinary("hello <w> the")).contains(wId);
    }

    @Test
    void llama3SplitPatternIsTranslatedFaithfully() throws IOException {
        ObjectNode gpt = TinyTokenizers.byteLevel(
                List.of(m("1", "2"), m("3", "4"), m("H", "E")), false, List.of("<|begin_of_text|>", "<|end_of_text|>"));
        HfTokenizer g = HfTokenizer.fromJson(TinyTokenizers.write(dir, "g.json", gpt));
        ObjectNode llama = TinyTokenizers.llama3Style(TinyTokenizers.byteLevel(
                List.of(m("1", "2"), m("3", "4"), m("H", "E")),
                false,
                List.of("<|begin_of_text|>", "<|end_of_text|>")));
        HfTokenizer l = HfTokenizer.fromJson(TinyTokenizers.write(dir, "l.json", llama));
        // digits: GPT-2 keeps runs together, Llama 3 splits them in groups of at most three
        assertThat(g.preTokenize("1234")).containsExactly("1234");
        assertThat(l.preTokenize("1234")).containsExactly("123", "4");
        int t12 = g.tokenId("12").orElseThrow();
        int t34 = g.tokenId("34").orElseThrow();
        assertThat(g.encode("1234")).containsExactly(t12, t34);
        assertThat(l.encode("1234")).containsExactly(t12, b('3'), b('4'));
        // case-insensitive contractions, letters with one leading non-letter, newlines
        assertThat(l.preTokenize("HE'S ok\n\nyes")).containsExactly("HE", "'S", "Ġok", "ĊĊ", "yes");
        assertThat(g.preTokenize("HE'S ok\n\nyes")).containsExactly("HE", "'", "S", "Ġok", "Ċ", "Ċ", "yes");
        assertThat(l.preTokenize("über-cool!!\n")).containsExactly("Ã¼ber", "-cool", "!!Ċ");
        // BOS/EOS found by their conventional names
        assertThat(l.bosId()).isEqualTo(l.tokenId("<|begin_of_text|>"));
        assertThat(l.eosId()).isEqualTo(l.tokenId("<|end_of_text|>"));
    }

    @Test
    void ignoreMergesTakesWholeWordsFromTheVocabulary() throws IOException {
        ObjectNode root = TinyTokenizers.byteLevel(List.<String[]>of(m("a", "b")), false, List.of());
        ((ObjectNode) root.get("model").get("vocab")).put("abc", 300);
        Path off = TinyTokenizers.write(dir, "off.json", root);
        assertThat(HfTokenizer.fromJson(off).encode("abc")).containsExactly(256, b('c'));
        ((ObjectNode) root.get("model")).put("ignore_merges", true);
        Path on = TinyTokenizers.write(dir, "on.json", root);
        HfTokenizer t = HfTokenizer.fromJson(on);
        assertThat(t.encode("abc")).containsExactly(300);
        assertThat(t.vocabSize()).isEqualTo(301);
        assertThatThrownBy(() -> t.token(299))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("unused");
        assertThatThrownBy(() -> t.decode(new int[] {400}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("token id 400");
    }

    @Test
    void addPrefixSpaceAddsASpaceToEachPiece() throws IOException {
        ObjectNode root = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of("<|endoftext|>"));
        ((ObjectNode) root.get("pre_tokenizer")).put("add_prefix_space", true);
        HfTokenizer t = HfTokenizer.fromJson(TinyTokenizers.write(dir, "prefix.json", root));
        assertThat(t.encode("the")).containsExactly(258);
        assertThat(t.encode(" the")).containsExactly(258);
    }

    /** A Llama 2 style (SentencePiece) BPE: Prepend/Replace normalizer, no pre-tokenizer, byte fallback. */
    private ObjectNode sentencePiece() {
        ObjectNode root = Json.mapper().createObjectNode();
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE");
        model.put("unk_token", "<unk>");
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        ObjectNode vocab = model.putObject("vocab");
        vocab.put("<unk>", 0);
        vocab.put("<s>", 1);
        vocab.put("</s>", 2);
        for (int i = 0; i < 256; i++) {
            vocab.put(String.format("<0x%02X>", i), 3 + i);
        }
        vocab.put("▁", 259);
        vocab.put("h", 260);
        vocab.put("i", 261);
        vocab.put("▁h", 262);
        vocab.put("▁hi", 263);
        model.putArray("merges").add("▁ h").add("▁h i");
        ArrayNode added = root.putArray("added_tokens");
        String[] names = {"<unk>", "<s>", "</s>"};
        for (int i = 0; i < names.length; i++) {
            added.addObject().put("id", i).put("content", names[i]).put("special", true);
        }
        ObjectNode norm = root.putObject("normalizer");
        norm.put("type", "Sequence");
        ArrayNode ns = norm.putArray("normalizers");
        ns.addObject().put("type", "Prepend").put("prepend", "▁");
        ObjectNode rep = ns.addObject().put("type", "Replace").put("content", "▁");
        rep.putObject("pattern").put("String", " ");
        root.putNull("pre_tokenizer");
        ObjectNode post = root.putObject("post_processor");
        post.put("type", "TemplateProcessing");
        post.putArray("single")
                .addObject()
                .putObject("SpecialToken")
                .put("id", "<s>")
                .put("type_id", 0);
        ((ArrayNode) post.get("single"))
                .addObject()
                .putObject("Sequence")
                .put("id", "A")
                .put("type_id", 0);
        ObjectNode dec = root.putObject("decoder");
        dec.put("type", "Sequence");
        ArrayNode ds = dec.putArray("decoders");
        ObjectNode drep = ds.addObject().put("type", "Replace").put("content", " ");
        drep.putObject("pattern").put("String", "▁");
        ds.addObject().put("type", "ByteFallback");
        ds.addObject().put("type", "Fuse");
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
        return root;
    }

    @Test
    void sentencePieceStyleWithByteFallback() throws IOException {
        HfTokenizer t = HfTokenizer.fromJson(TinyTokenizers.write(dir, "sp.json", sentencePiece()));
        assertThat(t.isByteLevel()).isFalse();
        assertThat(t.encode("hi hi")).containsExactly(263, 263);
        assertThat(t.decode(new int[] {263, 263})).isEqualTo("hi hi");
        // é is not in the vocabulary: its UTF-8 bytes C3 A9 become <0xC3> <0xA9>
        assertThat(t.encode("hié")).containsExactly(263, 3 + 0xC3, 3 + 0xA9);
        assertThat(t.decode(t.encode("hié"))).isEqualTo("hié");
        assertThat(t.encode("<s>hi")).containsExactly(1, 263);
        // BOS from the post-processor template, EOS by name
        assertThat(t.bosId()).hasValue(1);
        assertThat(t.eosId()).hasValue(2);
        // invalid UTF-8 goes through byte fallback too, and decodes to the same bytes
        byte[] raw = {'h', 'i', (byte) 0xFF, 'h'};
        assertThat(t.encode(raw)).containsExactly(263, 3 + 0xFF, 260);
        assertThat(t.decodeBytes(t.encode(raw))).isEqualTo(raw);
    }

    @Test
    void unknownTokenIsUsedAndFusedWithoutByteFallback() throws IOException {
        ObjectNode root = sentencePiece();
        ((ObjectNode) root.get("model")).put("byte_fallback", false);
        HfTokenizer t = HfTokenizer.fromJson(TinyTokenizers.write(dir, "unk.json", root));
        assertThat(t.encode("hiéé")).containsExactly(263, 0);
        ((ObjectNode) root.get("model")).put("fuse_unk", false);
        HfTokenizer t2 = HfTokenizer.fromJson(TinyTokenizers.write(dir, "unk2.json", root));
        assertThat(t2.encode("hiéé")).containsExactly(263, 0, 0);
    }

    @Test
    void tokenizerConfigNextToTheFileNamesBosAndEos() throws IOException {
        Path f = TinyTokenizers.write(
                dir,
                "cfg/tokenizer.json",
                TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of("<|endoftext|>", "<|im_end|>", "<|im_start|>")));
        Files.writeString(
                f.resolveSibling("tokenizer_config.json"),
                "{\"bos_token\": null, \"eos_token\": {\"content\": \"<|im_end|>\"}, \"extra\": 1}");
        HfTokenizer t = HfTokenizer.fromJson(f.getParent());
        assertThat(t.eosId()).isEqualTo(t.tokenId("<|im_end|>"));
        assertThat(t.withEos("<|endoftext|>").eosId()).hasValue(262);
        assertThat(t.withBos("<|im_start|>").bosId()).isEqualTo(t.tokenId("<|im_start|>"));
        assertThatThrownBy(() -> t.withBos("<nope>"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("\"<nope>\"");
    }

    @Test
    void unknownFieldsAreTolerated() throws IOException {
        ObjectNode root = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of("<|endoftext|>"));
        root.put("some_future_field", 42);
        root.putObject("truncation").put("max_length", 12);
        ((ObjectNode) root.get("model")).put("new_option", "x");
        ((ObjectNode) root.get("pre_tokenizer")).put("whatever", true);
        ((ObjectNode) root.get("added_tokens").get(0)).put("extra", "y");
        HfTokenizer t = HfTokenizer.fromJson(TinyTokenizers.write(dir, "future.json", root));
        assertThat(t.encode("hello the")).containsExactly(261, 258);
    }

    private void assertRejected(ObjectNode root, String... fragments) throws IOException {
        Path f = TinyTokenizers.write(dir, "bad" + System.nanoTime() + ".json", root);
        var a = assertThatThrownBy(() -> HfTokenizer.fromJson(f))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageStartingWith(f.toString());
        for (String s : fragments) {
            a.hasMessageContaining(s);
        }
    }

    @Test
    void malformedOrUnsupportedFilesAreRejectedWithClearErrors() throws IOException {
        Path notJson = dir.resolve("broken.json");
        Files.writeString(notJson, "{\"model\": {\"type\": \"BPE\", ");
        assertThatThrownBy(() -> HfTokenizer.fromJson(notJson))
                .isInstanceOf(MalformedFileException.class)
                .hasMessageContaining("invalid JSON");

        ObjectNode wordLevel = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ObjectNode) wordLevel.get("model")).put("type", "WordLevel");
        assertRejected(wordLevel, "unsupported model type \"WordLevel\"", "supported: BPE, Unigram, WordPiece");

        ObjectNode unigramWithMerges = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ObjectNode) unigramWithMerges.get("model")).put("type", "Unigram");
        assertRejected(unigramWithMerges, "Unigram model.vocab must be an array of [piece, score] pairs");

        ObjectNode badMerge = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ArrayNode) badMerge.get("model").get("merges")).add("hello zzz");
        assertRejected(badMerge, "model.merges[6]", "\"zzz\" is not in model.vocab");

        ObjectNode threeParts = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ArrayNode) threeParts.get("model").get("merges")).add("a b c");
        assertRejected(threeParts, "model.merges[6]", "two tokens");

        ObjectNode scripts = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        scripts.putObject("pre_tokenizer").put("type", "UnicodeScripts");
        assertRejected(scripts, "unsupported pre_tokenizer type \"UnicodeScripts\"");

        ObjectNode nmt = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        nmt.putObject("normalizer").put("type", "Nmt");
        assertRejected(nmt, "unsupported normalizer type \"Nmt\"");

        ObjectNode ctc = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ctc.putObject("decoder").put("type", "CTC");
        assertRejected(ctc, "unsupported decoder type \"CTC\"");

        ObjectNode negative = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ObjectNode) negative.get("model").get("vocab")).put("zz", -4);
        assertRejected(negative, "token \"zz\" has id -4");

        ObjectNode dupId = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ObjectNode) dupId.get("model").get("vocab")).put("zz", 5);
        assertRejected(dupId, "both have id 5");

        ObjectNode noModel = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        noModel.remove("model");
        assertRejected(noModel, "missing \"model\"");

        ObjectNode dropout = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ObjectNode) dropout.get("model")).put("dropout", 0.1);
        assertRejected(dropout, "model.dropout");

        ObjectNode badRegex = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        TinyTokenizers.llama3Style(badRegex);
        ((ObjectNode) badRegex.get("pre_tokenizer").get("pretokenizers").get(0).get("pattern")).put("Regex", "a\\Kb");
        assertRejected(badRegex, "\\K");

        ObjectNode badBehavior = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        TinyTokenizers.llama3Style(badBehavior);
        ((ObjectNode) badBehavior.get("pre_tokenizer").get("pretokenizers").get(0)).put("behavior", "Sideways");
        assertRejected(badBehavior, "unknown behavior \"Sideways\"");

        ObjectNode unk = TinyTokenizers.byteLevel(GPT2_MERGES, false, List.of());
        ((ObjectNode) unk.get("model")).put("unk_token", "<unk>");
        assertRejected(unk, "unk_token \"<unk>\" is not in model.vocab");
    }

    @Test
    void decodingKeepsInvalidUtf8BytesExactlyButReplacesThemInText() throws IOException {
        HfTokenizer t = gpt2(false);
        byte[] raw = {'h', 'e', (byte) 0xE2, (byte) 0x82, ' ', 't', 'h', 'e', (byte) 0xFF};
        int[] ids = t.encode(raw);
        assertThat(t.decodeBytes(ids)).isEqualTo(raw);
        assertThat(t.decode(ids)).isEqualTo("he\uFFFD the\uFFFD");
        assertThat(t.decode(t.encode("naïve ∑ 😀"))).isEqualTo("naïve ∑ 😀");
        assertThat(new String(t.decodeBytes(t.encode("😀")), StandardCharsets.UTF_8))
                .isEqualTo("😀");
    }

    @Test
    void repeatedWordsHitTheCacheAndGiveTheSameIds() throws IOException {
        HfTokenizer t = gpt2(false);
        // pieces: "hello", then (" the", " hello") repeated, then " the"
        String text = "hello the".repeat(1).concat(" hello the".repeat(1999));
        int[] ids = t.encode(text);
        assertThat(ids).hasSize(1 + 1 + 1999 * 3);
        assertThat(ids[0]).isEqualTo(261);
        assertThat(ids[1]).isEqualTo(258);
        for (int i = 2; i < ids.length; i += 3) {
            assertThat(ids[i]).isEqualTo(b(' '));
            assertThat(ids[i + 1]).isEqualTo(261);
            assertThat(ids[i + 2]).isEqualTo(258);
        }
        assertThat(t.decode(ids)).isEqualTo(text);
    }
}
