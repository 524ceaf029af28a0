package fulgur.cuda;

import static com.tngtech.archunit.lang.syntax.ArchRuleDefinition.noClasses;
import static org.assertj.core.api.Assertions.assertThat;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * GPU hosts run the test classes scripts/gpu/*.sh name, from the jars scripts/gpu/stage-backend.sh stages, with no
 * repository around them: the scripts name only GPU tests, and no test needs a library the stage leaves out.
 */
class GpuScriptsTest {
    private static final Pattern TEST_CLASS = Pattern.compile("\\bfulgur\\.cuda\\.[A-Za-z0-9_.]+Tests?\\b");

    private static Path scripts() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            Path d = p.resolve("scripts/gpu");
            if (Files.isDirectory(d)) return d;
        }
        throw new IllegalStateException(
                "scripts/gpu not found above " + Path.of("").toAbsolutePath());
    }

    /** Test classes a GPU script names (in its class lists and patterns), with the script's name. */
    private static Set<String> named() throws IOException {
        Set<String> out = new TreeSet<>();
        try (Stream<Path> files = Files.list(scripts())) {
            for (Path f :
                    files.filter(p -> p.toString().endsWith(".sh")).sorted().toList()) {
                Matcher m = TEST_CLASS.matcher(Files.readString(f));
                while (m.find()) out.add(m.group() + " (" + f.getFileName() + ")");
            }
        }
        return out;
    }

    /** A test that needs no GPU fails or finds nothing there (no docs/, no ArchUnit on the class path) and costs a JVM. */
    @Test
    void theScriptsNameOnlyGpuTestsThatExist() throws IOException {
        Set<String> named = named();
        assertThat(named).as("test classes named by scripts/gpu/*.sh").isNotEmpty();
        for (String entry : named) {
            String name = entry.substring(0, entry.indexOf(' '));
            Class<?> c;
            try {
                c = Class.forName(name, false, getClass().getClassLoader());
            } catch (ClassNotFoundException e) {
                throw new AssertionError(entry + ": no such test class", e);
            }
            List<String> tags = Arrays.stream(c.getAnnotationsByType(Tag.class))
                    .map(Tag::value)
                    .toList();
            assertThat(tags)
                    .as(entry + ": a GPU script runs only tests tagged gpu")
                    .contains("gpu");
        }
    }

    /**
     * stage-backend.sh leaves ByteBuddy and jqwik out of the staged jars: AssertJ's assumptions and soft assertions build
     * ByteBuddy proxies (NoClassDefFoundError on the GPU host), so the tests assume with JUnit's {@code assumeTrue}.
     */
    @Test
    void noTestNeedsWhatTheStageLeavesOut() {
        JavaClasses tests = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.ONLY_INCLUDE_TESTS)
                .importPackages("fulgur.cuda");
        noClasses()
                .should()
                .dependOnClassesThat()
                .haveNameMatching("org\\.assertj\\.core\\.api\\.(BDD)?Assumptions")
                .orShould()
                .dependOnClassesThat()
                .haveNameMatching("org\\.assertj\\.core\\.api\\..*SoftAssertions.*")
                .orShould()
                .dependOnClassesThat()
                .resideInAnyPackage("net.bytebuddy..", "net.jqwik..")
                .check(tests);
    }
}
