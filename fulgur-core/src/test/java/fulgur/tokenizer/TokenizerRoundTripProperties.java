package fulgur.tokenizer;

import static fulgur.tokenizer.TinyTokenizers.m;
import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/** encode/decode round trips on random Unicode text and random bytes, for every tokenizer flavour. */
class TokenizerRoundTripProperties {

    private static final List<String[]> MERGES = List.of(
            m("Ġ", "t"),
            m("h", "e"),
            m("Ġt", "he"),
            m("l", "l"),
            m("he", "ll"),
            m("hell", "o"),
            m("1", "2"),
            m("Ã", "©"),
            m("Ġ", "Ġ"),
            m("ĠĠ", "ĠĠ"),
            m("Ċ", "Ċ"),
            m("e", "r"),
            m("Ġ", "a"));

    private static final HfTokenizer GPT2;
    private static final HfTokenizer LLAMA3;
    private static final ByteTokenizer BYTES = new ByteTokenizer(List.of("<|endoftext|>", "<pad>"));

    static {
        try {
            Path dir = Files.createTempDirectory("fulgur-tok");
            dir.toFile().deleteOnExit();
            Path g = TinyTokenizers.write(
                    dir, "gpt2.json", TinyTokenizers.byteLevel(MERGES, false, List.of("<|endoftext|>")));
            ObjectNode l = TinyTokenizers.llama3Style(
                    TinyTokenizers.byteLevel(MERGES, true, List.of("<|begin_of_text|>", "<|end_of_text|>")));
            Path lp = TinyTokenizers.write(dir, "llama3.json", l);
            GPT2 = HfTokenizer.fromJson(g);
            LLAMA3 = HfTokenizer.fromJson(lp);
            g.toFile().deleteOnExit();
            lp.toFile().deleteOnExit();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Any Unicode scalar values, biased towards ASCII, whitespace, digits and letters with accents. */
    @Provide
    Arbitrary<String> text() {
        Arbitrary<Integer> any = Arbitraries.integers().between(0, 0x10FFFF).filter(cp -> cp < 0xD800 || cp > 0xDFFF);
        Arbitrary<Integer> ascii = Arbitraries.integers().between(0, 127);
        Arbitrary<Integer> ws = Arbitraries.of((int) ' ', (int) '\n', (int) '\t', (int) '\r', 0x3000, 0xA0);
        Arbitrary<Integer> latin = Arbitraries.integers().between(0xC0, 0x17F);
        Arbitrary<Integer> cp = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, ascii),
                net.jqwik.api.Tuple.of(2, ws),
                net.jqwik.api.Tuple.of(2, latin),
                net.jqwik.api.Tuple.of(2, any));
        return cp.list().ofMaxSize(60).map(list -> {
            StringBuilder sb = new StringBuilder();
            list.forEach(sb::appendCodePoint);
            return sb.toString();
        });
    }

    @Property(tries = 300)
    void gpt2RoundTripsText(@ForAll("text") String s) {
        assertThat(GPT2.decode(GPT2.encode(s))).isEqualTo(s);
        assertThat(GPT2.decode(GPT2.encodeOrdinary(s))).isEqualTo(s);
    }

    @Property(tries = 300)
    void llama3RoundTripsText(@ForAll("text") String s) {
        assertThat(LLAMA3.decode(LLAMA3.encode(s))).isEqualTo(s);
    }

    @Property(tries = 300)
    void byteTokenizerRoundTripsText(@ForAll("text") String s) {
        assertThat(BYTES.decode(BYTES.encode(s))).isEqualTo(s);
    }

    @Property(tries = 300)
    void specialTokenStringsInTextRoundTripEitherWay(@ForAll("text") String a, @ForAll("text") String b) {
        String s = a + "<|endoftext|>" + b;
        assertThat(GPT2.decode(GPT2.encode(s))).isEqualTo(s);
        assertThat(GPT2.decode(GPT2.encodeOrdinary(s))).isEqualTo(s);
        assertThat(BYTES.decode(BYTES.encode(s))).isEqualTo(s);
        assertThat(BYTES.decode(BYTES.encodeOrdinary(s))).isEqualTo(s);
    }

    @Property(tries = 400)
    void randomBytesRoundTripExactly(@ForAll @Size(max = 80) byte[] bytes) {
        assertThat(GPT2.decodeBytes(GPT2.encode(bytes))).isEqualTo(bytes);
        assertThat(LLAMA3.decodeBytes(LLAMA3.encode(bytes))).isEqualTo(bytes);
        assertThat(BYTES.decodeBytes(BYTES.encode(bytes))).isEqualTo(bytes);
    }

    @Property(tries = 200)
    void idsAreWithinTheVocabulary(@ForAll @Size(max = 80) byte[] bytes) {
        for (Tokenizer t : List.of(GPT2, LLAMA3, BYTES)) {
            for (int id : t.encode(bytes)) {
                assertThat(id).isBetween(0, t.vocabSize() - 1);
            }
        }
    }
}
