package fulgur;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The repository's docs and sources read as a product's: they speak of the code, its use and its figures, never of how
 * the work on it was organised, and they point at nothing outside the repository. Scans README.md, CHANGELOG.md,
 * docs/, every module's README, the Java, CUDA, script and build sources (test data excepted) and fails naming every
 * hit as file:line.
 */
class DocsTest {

    static final Path ROOT = Path.of("").toAbsolutePath().getParent();

    /** What is not said, each with why. */
    record Rule(Pattern pattern, String why) {}

    static final List<Rule> RULES = List.of(
            new Rule(Pattern.compile("\\bsessions?\\b", Pattern.CASE_INSENSITIVE), "how the work was organised"),
            new Rule(Pattern.compile("\\bacceptance\\b", Pattern.CASE_INSENSITIVE), "how the work was organised"),
            new Rule(
                    Pattern.compile("\\bissues?\\s*#\\d+|\\bissue\\s+\\d+", Pattern.CASE_INSENSITIVE),
                    "an issue number"),
            new Rule(Pattern.compile("(?<![\\w&/#])#\\d+\\b"), "an issue number"),
            new Rule(Pattern.compile("\\b(TODO|FIXME)\\b"), "an unfinished-work marker"),
            new Rule(Pattern.compile("\\bstub(bed|s)?\\b", Pattern.CASE_INSENSITIVE), "an unfinished-work marker"),
            new Rule(Pattern.compile("\\.\\./shared|/work/"), "a path outside the repository"),
            new Rule(Pattern.compile("\\b(DESIGN|REFERENCE|KERNELS)\\.md\\b"), "a document outside the repository"),
            new Rule(Pattern.compile("\\b(git checkout|commit)\\s+`?[0-9a-f]{7,40}\\b"), "a commit to check out"),
            new Rule(
                    Pattern.compile("\\]\\((?!https?:)[^)]*\\.log\\)"),
                    "a link to a log file, which the repository does not keep"));

    /** Files whose text is data, not prose or code. */
    private static final Set<String> SKIPPED_DIRS =
            Set.of(".git", "target", "node_modules", ".peer", ".device", ".gl", "runs", "out", ".idea", "resources");

    private static boolean scanned(Path p) {
        String name = p.getFileName().toString();
        Path rel = ROOT.relativize(p);
        if (rel.equals(Path.of("fulgur-core/src/test/java/fulgur/DocsTest.java"))) {
            return false; // the rules themselves
        }
        if (name.endsWith(".md")) {
            return true;
        }
        if (rel.startsWith("docs")) {
            return name.endsWith(".txt");
        }
        return name.endsWith(".java")
                || name.endsWith(".cu")
                || name.endsWith(".cuh")
                || name.endsWith(".sh")
                || name.endsWith(".py")
                || name.equals("pom.xml")
                || rel.equals(Path.of("fulgur"))
                || rel.equals(Path.of(".ci/run"));
    }

    /** Every scanned file; main resources that are sources (CUDA kernels) included, test data not. */
    static List<Path> files() throws IOException {
        List<Path> out = new ArrayList<>();
        try (Stream<Path> walk = Files.walk(ROOT)) {
            walk.filter(Files::isRegularFile)
                    .filter(p -> {
                        Path rel = ROOT.relativize(p);
                        for (int i = 0; i < rel.getNameCount() - 1; i++) {
                            String dir = rel.getName(i).toString();
                            boolean kernelSources = dir.equals("resources")
                                    && i > 0
                                    && rel.getName(i - 1).toString().equals("main");
                            if (SKIPPED_DIRS.contains(dir) && !kernelSources) {
                                return false;
                            }
                        }
                        return scanned(p);
                    })
                    .sorted()
                    .forEach(out::add);
        }
        return out;
    }

    static List<String> hits(Path file) throws IOException {
        List<String> hits = new ArrayList<>();
        List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        for (int i = 0; i < lines.size(); i++) {
            for (Rule r : RULES) {
                Matcher m = r.pattern().matcher(lines.get(i));
                if (m.find()) {
                    hits.add(ROOT.relativize(file) + ":" + (i + 1) + ": \"" + m.group() + "\" (" + r.why() + ")");
                }
            }
        }
        return hits;
    }

    @Test
    void docsAndSourcesSpeakOfTheProductOnly() throws IOException {
        List<Path> files = files();
        assertThat(files)
                .as("files scanned")
                .contains(
                        ROOT.resolve("README.md"),
                        ROOT.resolve("CHANGELOG.md"),
                        ROOT.resolve("fulgur-core/src/main/java/fulgur/tensor/Tensor.java"));
        List<String> hits = new ArrayList<>();
        for (Path f : files) {
            hits.addAll(hits(f));
        }
        assertThat(hits).as("process words and outside references (file:line)").isEmpty();
    }

    @Test
    void theRulesCatchWhatTheyAreFor() {
        // written with a '|' inside each word the rules look for and joined here, so that this file's own text stays
        // free of what it tests for (other scanners read the sources too)
        List<String> bad = List.of(
                        "Ses|sion 3: faster GEMM",
                        "the accep|tance figure",
                        "see is|sue #7",
                        "Still open in |#12",
                        "// TO|DO stub",
                        "data=\"$root/..|/shared/data/x.txt\"",
                        "(REFER|ENCE.md §4)",
                        "`git check|out 4b29de0`",
                        "[log](gpu-runs/run.l|og)",
                        "is|sue 12")
                .stream()
                .map(s -> s.replace("|", ""))
                .toList();
        List<String> good = List.of(
                "{@link Backend#deferChecks()}",
                "&#123;",
                "#define BLOCK 64",
                "a stubborn bug",
                "log-sigmoid",
                "[results](gpu-runs/summary.txt)",
                "see docs/kernels.md",
                "https://github.com/fulgur-dev/fulgur/issues",
                "one CTA issues 1536 mma.sync");
        for (String s : bad) {
            assertThat(RULES).as(s).anyMatch(r -> r.pattern().matcher(s).find());
        }
        for (String s : good) {
            assertThat(RULES).as(s).noneMatch(r -> r.pattern().matcher(s).find());
        }
    }
}
