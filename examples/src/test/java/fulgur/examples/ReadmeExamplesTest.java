package fulgur.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The README's Java code is taken verbatim from these examples (indentation aside), so what it shows compiles and
 * runs: ExamplesTest runs every example.
 */
class ReadmeExamplesTest {

    private static final Path ROOT = Path.of("").toAbsolutePath().getParent();

    /** Whether {@code block}'s lines appear one after another in {@code source}, each indented by the same prefix. */
    static boolean quotes(String source, String block) {
        List<String> src = source.lines().toList();
        List<String> lines = block.lines().toList();
        for (int start = 0; start + lines.size() <= src.size(); start++) {
            String first = src.get(start);
            if (!first.endsWith(lines.getFirst())
                    || !first.substring(0, first.length() - lines.getFirst().length())
                            .isBlank()) {
                continue;
            }
            String indent = first.substring(0, first.length() - lines.getFirst().length());
            boolean all = true;
            for (int i = 0; i < lines.size() && all; i++) {
                String want = lines.get(i);
                String got = src.get(start + i);
                all = want.isBlank() ? got.isBlank() : got.equals(indent + want);
            }
            if (all) {
                return true;
            }
        }
        return false;
    }

    @Test
    void quotingFindsBlocksAtAnyIndentationButNotEditedOnes() {
        String source = "class A {\n    void f() {\n        int x = 1;\n\n        return;\n    }\n}\n";
        assertThat(quotes(source, "int x = 1;\n\nreturn;\n")).isTrue();
        assertThat(quotes(source, "void f() {\n    int x = 1;\n")).isTrue();
        assertThat(quotes(source, "int x = 2;\n")).isFalse();
        assertThat(quotes(source, "void f() {\nint x = 1;\n"))
                .as("indentation inside the block counts")
                .isFalse();
    }

    @Test
    void everyJavaBlockOfTheReadmeIsPartOfAnExample() throws IOException {
        String readme = Files.readString(ROOT.resolve("README.md"));
        Matcher m = Pattern.compile("```java\\n(.*?)```", Pattern.DOTALL).matcher(readme);
        List<String> blocks = new ArrayList<>();
        while (m.find()) {
            blocks.add(m.group(1));
        }
        assertThat(blocks).as("Java blocks in README.md").isNotEmpty();
        List<String> sources = new ArrayList<>();
        try (Stream<Path> files = Files.walk(ROOT.resolve("examples/src/main/java"))) {
            for (Path f : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                sources.add(Files.readString(f));
            }
        }
        for (String block : blocks) {
            assertThat(sources)
                    .as("an example that contains README.md's block%n%s", block)
                    .anyMatch(s -> quotes(s, block));
        }
    }
}
