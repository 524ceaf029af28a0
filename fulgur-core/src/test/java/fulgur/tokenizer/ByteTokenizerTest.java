package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

class ByteTokenizerTest {

    @Test
    void bytesAreTheirOwnIds() {
        ByteTokenizer t = new ByteTokenizer();
        assertThat(t.vocabSize()).isEqualTo(256);
        assertThat(t.encode("aé")).containsExactly('a', 0xC3, 0xA9);
        assertThat(t.decode(new int[] {'h', 'i'})).isEqualTo("hi");
        assertThat(t.eosId()).isEmpty();
        assertThat(t.bosId()).isEmpty();
        assertThat(t.isSpecial(3)).isFalse();
        assertThat(t.token(' ')).isEqualTo("Ġ");
        assertThat(t.tokenId("a")).hasValue('a');
    }

    @Test
    void specialTokensFollowTheBytes() {
        ByteTokenizer t = new ByteTokenizer(List.of("<|endoftext|>", "<s>"));
        assertThat(t.vocabSize()).isEqualTo(258);
        assertThat(t.eosId()).hasValue(256);
        assertThat(t.bosId()).hasValue(257);
        assertThat(t.encode("a<|endoftext|>b")).containsExactly('a', 256, 'b');
        assertThat(t.encodeOrdinary("<s>")).containsExactly('<', 's', '>');
        assertThat(t.decode(new int[] {'a', 256, 257})).isEqualTo("a<|endoftext|><s>");
        assertThat(t.isSpecial(256)).isTrue();
        assertThat(t.specialTokens()).containsEntry("<s>", 257);
        assertThat(ByteTokenizer.withEndOfText().eosId()).hasValue(256);
    }

    @Test
    void invalidUtf8DecodesWithReplacementButBytesRoundTripExactly() {
        ByteTokenizer t = ByteTokenizer.withEndOfText();
        byte[] raw = {(byte) 0xFF, 'a', (byte) 0xE2, (byte) 0x82};
        int[] ids = t.encode(raw);
        assertThat(ids).containsExactly(0xFF, 'a', 0xE2, 0x82);
        assertThat(t.decodeBytes(ids)).isEqualTo(raw);
        assertThat(t.decode(ids)).isEqualTo("\uFFFDa\uFFFD");
        assertThat(t.decode(t.encode("<|endoftext|>".getBytes(StandardCharsets.UTF_8))))
                .isEqualTo("<|endoftext|>");
        assertThat(t.encode("<|endoftext|>".getBytes(StandardCharsets.UTF_8))).containsExactly(256);
    }

    @Test
    void badArgumentsAreRejected() {
        assertThatThrownBy(() -> new ByteTokenizer(List.of("<a>", "<a>")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("twice");
        assertThatThrownBy(() -> new ByteTokenizer(List.of("")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("empty");
        ByteTokenizer t = new ByteTokenizer();
        assertThatThrownBy(() -> t.decode(new int[] {256}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("out of range [0, 256)");
        assertThatThrownBy(() -> t.decode(new int[] {-1})).isInstanceOf(IllegalArgumentException.class);
    }
}
