package fulgur;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * Every class in any module's test sources that declares tests is one Surefire runs: its path matches the includes
 * of the Surefire configuration that applies to its module (the module's own, else the parent's) and none of the
 * excludes, Surefire's default exclusion of nested classes included. A test class that no pattern picks up would
 * otherwise never run, and nothing would say so. (What JUnit itself would skip, such as a private test method, is
 * an error through {@code junit.platform.discovery.issue.severity.critical}.)
 */
class SurefireIncludesTest {

    private static final Path ROOT = DocsTest.ROOT;

    /** Annotations that make a method a test for the engines on the test class path (JUnit Jupiter, jqwik). */
    private static final Pattern DECLARES_TESTS = Pattern.compile(
            "(?m)^\\s*@(Test|ParameterizedTest|RepeatedTest|TestFactory|TestTemplate|Property|Example)\\b");

    record Patterns(List<String> includes, List<String> excludes) {
        boolean runs(String classPath) {
            return includes.stream().anyMatch(p -> matches(p, classPath))
                    && excludes.stream().noneMatch(p -> matches(p, classPath));
        }
    }

    /** Surefire's pattern semantics: {@code **}{@code /} matches zero or more directories. */
    static boolean matches(String pattern, String path) {
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + pattern);
        if (m.matches(Path.of(path))) {
            return true;
        }
        return pattern.startsWith("**/") && matches(pattern.substring(3), path);
    }

    /** The includes and excludes of the maven-surefire-plugin element in {@code pom}, or null when it has none. */
    static Patterns surefirePatterns(Path pom) throws Exception {
        DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
        f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
        Document d = f.newDocumentBuilder().parse(pom.toFile());
        NodeList ids = d.getElementsByTagName("artifactId");
        for (int i = 0; i < ids.getLength(); i++) {
            if (ids.item(i).getTextContent().trim().equals("maven-surefire-plugin")) {
                Element plugin = (Element) ids.item(i).getParentNode();
                List<String> inc = texts(plugin, "include");
                List<String> exc = texts(plugin, "exclude");
                if (!inc.isEmpty() || !exc.isEmpty()) {
                    return new Patterns(inc, exc);
                }
            }
        }
        return null;
    }

    private static List<String> texts(Element e, String tag) {
        List<String> out = new ArrayList<>();
        NodeList n = e.getElementsByTagName(tag);
        for (int i = 0; i < n.getLength(); i++) {
            out.add(n.item(i).getTextContent().trim());
        }
        return out;
    }

    /** Surefire's defaults where no configuration gives patterns. */
    static final Patterns SUREFIRE_DEFAULTS =
            new Patterns(List.of("**/Test*.java", "**/*Test.java", "**/*Tests.java", "**/*TestCase.java"), List.of());

    /** The patterns that apply to {@code module}, with Surefire's default exclusion of nested classes added. */
    static Patterns effective(Path module) throws Exception {
        Patterns p = surefirePatterns(module.resolve("pom.xml"));
        if (p == null) {
            p = surefirePatterns(ROOT.resolve("pom.xml"));
        }
        if (p == null) {
            p = SUREFIRE_DEFAULTS;
        }
        List<String> inc = p.includes().isEmpty() ? SUREFIRE_DEFAULTS.includes() : p.includes();
        List<String> exc = new ArrayList<>(p.excludes());
        exc.add("**/*$*");
        return new Patterns(inc, exc);
    }

    /** Paths (relative to src/test/java) of the test sources that declare tests. */
    static List<String> testClasses(Path module) throws IOException {
        Path src = module.resolve("src/test/java");
        if (!Files.isDirectory(src)) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(src)) {
            for (Path f :
                    walk.filter(p -> p.toString().endsWith(".java")).sorted().toList()) {
                if (DECLARES_TESTS.matcher(Files.readString(f)).find()) {
                    out.add(src.relativize(f).toString());
                }
            }
        }
        return out;
    }

    @Test
    void everyClassThatDeclaresTestsMatchesTheSurefirePatternsOfItsModule() throws Exception {
        List<String> missed = new ArrayList<>();
        int classes = 0;
        try (Stream<Path> dirs = Files.list(ROOT)) {
            for (Path module : dirs.filter(d -> Files.isRegularFile(d.resolve("pom.xml")))
                    .sorted()
                    .toList()) {
                Patterns p = effective(module);
                for (String c : testClasses(module)) {
                    classes++;
                    if (!p.runs(c)) {
                        missed.add(ROOT.relativize(module) + "/src/test/java/" + c + " (includes " + p.includes()
                                + ", excludes " + p.excludes() + ")");
                    }
                }
            }
        }
        assertThat(classes).as("test classes found").isGreaterThan(100);
        assertThat(missed).as("test classes Surefire would never run").isEmpty();
    }

    @Test
    void theCheckWouldCatchANameThatTheDefaultsMiss() throws Exception {
        String properties = "fulgur/tokenizer/TokenizerRoundTripProperties.java";
        assertThat(testClasses(ROOT.resolve("fulgur-core"))).contains(properties, "fulgur/SurefireIncludesTest.java");
        assertThat(SUREFIRE_DEFAULTS.runs(properties))
                .as("Surefire's default includes skip it")
                .isFalse();
        assertThat(effective(ROOT.resolve("fulgur-core")).runs(properties))
                .as("this build's includes run it")
                .isTrue();
        assertThat(effective(ROOT.resolve("fulgur-core")).runs("fulgur/Outer$Inner.java"))
                .isFalse();
        assertThat(matches("**/*Test.java", "GemmTest.java")).isTrue();
    }
}
