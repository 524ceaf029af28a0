package fulgur.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class OnigRegexTest {

    private static List<String> matches(String onig, String text) {
        Pattern p = OnigRegex.compile(onig, "test");
        List<String> out = new ArrayList<>();
        Matcher m = p.matcher(text);
        while (m.find()) {
            out.add(m.group());
        }
        return out;
    }

    @Test
    void whitespaceAndClassesAreUnicodeAware() {
        // U+3000 ideographic space and U+00A0 are \s in Oniguruma (Java's default \s is ASCII only)
        assertThat(matches("\\s+", "a\u3000\u00A0b")).containsExactly("\u3000\u00A0");
        assertThat(matches("\\d+", "x٣٤y")).containsExactly("٣٤");
        assertThat(matches("\\p{L}+", "héllo wörld")).containsExactly("héllo", "wörld");
        assertThat(matches("[^\\s\\p{L}\\p{N}]+", "a,.b  ?!")).containsExactly(",.", "?!");
    }

    @Test
    void caseInsensitiveGroupsPossessiveAndAtomic() {
        assertThat(matches("(?i:'s|'ll)", "IT'S WE'LL it's")).containsExactly("'S", "'LL", "'s");
        assertThat(matches("\\p{N}{1,3}", "1234567")).containsExactly("123", "456", "7");
        assertThat(matches("a++b", "aaab")).containsExactly("aaab");
        assertThat(matches("(?>a+)b", "aab")).containsExactly("aab");
        assertThat(matches("\\s+(?!\\S)", "a   b")).containsExactly("  ");
    }

    @Test
    void onigurumaOnlySpellingsAreTranslated() {
        assertThat(OnigRegex.translate("\\h+", "t")).isEqualTo("[0-9a-fA-F]+");
        assertThat(matches("\\h+", "zz1aFq")).containsExactly("1aF");
        assertThat(matches("[[:alpha:]]+", "ab1cd")).containsExactly("ab", "cd");
        assertThat(matches("[[:^digit:]]+", "ab1cd")).containsExactly("ab", "cd");
        assertThat(matches("\\p{^L}+", "ab12cd")).containsExactly("12");
        assertThat(matches("\\p{Han}+", "abc漢字def")).containsExactly("漢字");
        assertThat(matches("a{,2}", "aaa")).containsExactly("aa", "a", "");
        assertThat(matches("x{y", "x{y")).containsExactly("x{y");
        assertThat(matches(".", "\r")).containsExactly("\r");
        assertThat(matches("(?m:a.b)", "a\nb")).containsExactly("a\nb");
        assertThat(matches("[]a]+", "]a]b")).containsExactly("]a]");
    }

    @Test
    void constructsWithoutAJavaEquivalentAreRefused() {
        assertThatThrownBy(() -> OnigRegex.compile("a\\Kb", "pre_tokenizer Split"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("pre_tokenizer Split")
                .hasMessageContaining("\\K");
        assertThatThrownBy(() -> OnigRegex.compile("(?~abc)", "x")).hasMessageContaining("absence operator");
        assertThatThrownBy(() -> OnigRegex.compile("\\p{NoSuchProperty}", "x"))
                .hasMessageContaining("\\p{NoSuchProperty}");
    }
}
