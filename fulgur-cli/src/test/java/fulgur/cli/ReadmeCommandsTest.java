package fulgur.cli;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.models.Architectures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Every {@code ./fulgur} command the README shows parses, and every one that runs on a CPU without outside data runs
 * to a zero exit at tiny sizes, in the README's order (later commands use the runs earlier ones made). Files the
 * README names (corpus.txt, tokenizer.json, ...) are small stand-ins; GPU, NCCL, server and LEAP data commands are
 * only parsed.
 */
class ReadmeCommandsTest {

    static List<List<String>> readmeCommands() throws Exception {
        Path readme = Path.of("..", "README.md");
        if (!Files.isRegularFile(readme)) {
            readme = Path.of("README.md");
        }
        List<List<String>> out = new ArrayList<>();
        boolean inCode = false;
        Pattern inline = Pattern.compile("`(\\./fulgur [^`]+)`");
        for (String line : Files.readAllLines(readme)) {
            if (line.startsWith("```")) {
                inCode = !inCode;
                continue;
            }
            if (inCode && line.startsWith("./fulgur")) {
                out.add(split(line.replaceFirst("\\s+#.*$", "")));
            } else if (!inCode) {
                Matcher m = inline.matcher(line);
                while (m.find()) {
                    out.add(split(m.group(1)));
                }
            }
        }
        return out;
    }

    /** Splits a shell command line at spaces, keeping quoted strings whole; drops {@code ./fulgur}. */
    static List<String> split(String line) {
        List<String> args = new ArrayList<>();
        Matcher m = Pattern.compile("\"([^\"]*)\"|'([^']*)'|(\\S+)").matcher(line);
        while (m.find()) {
            args.add(m.group(1) != null ? m.group(1) : m.group(2) != null ? m.group(2) : m.group(3));
        }
        args.removeFirst();
        return args;
    }

    @Test
    void everyReadmeCommandParsesAndTheCpuOnesRun(@TempDir Path tmp) throws Exception {
        List<List<String>> commands = readmeCommands();
        assertThat(commands).hasSizeGreaterThan(20);
        Path corpus = tmp.resolve("corpus.txt");
        Files.writeString(corpus, "ROMEO: to be or not to be, that is the question.\n".repeat(300));
        Files.writeString(tmp.resolve("valid.txt"), "JULIET: that is the question, to be or not.\n".repeat(20));
        Files.writeString(
                tmp.resolve("docs.jsonl"), "{\"text\": \"to be or not to be, that is the question\"}\n".repeat(100));
        EvalCliTest.writeByteLevelBpe(tmp.resolve("tokenizer.json"));
        Files.writeString(
                tmp.resolve("config.json"), Architectures.byName("tnl").smallConfig(257, 32, 1, 2));
        Map<String, String> files = Map.of(
                "corpus.txt",
                corpus.toString(),
                "FILE",
                corpus.toString(),
                "valid.txt",
                tmp.resolve("valid.txt").toString(),
                "docs.jsonl",
                tmp.resolve("docs.jsonl").toString(),
                "tokenizer.json",
                tmp.resolve("tokenizer.json").toString(),
                "config.json",
                tmp.resolve("config.json").toString(),
                "tasks.jsonl",
                Path.of(ReadmeCommandsTest.class
                                .getResource("choice-tasks.jsonl")
                                .toURI())
                        .toString(),
                "needle.png",
                tmp.resolve("needle.png").toString(),
                "hf/some-checkpoint",
                tmp.resolve("hf/mine").toString());
        int ran = 0;
        for (List<String> readmeArgs : commands) {
            String shown = String.join(" ", readmeArgs);
            // every option the README shows exists
            CommandLine cl = Main.commandLine();
            cl.parseArgs(readmeArgs.toArray(String[]::new));
            if (!runsHere(readmeArgs)) {
                continue;
            }
            List<String> args = new ArrayList<>();
            for (String a : readmeArgs) {
                args.add(files.getOrDefault(
                        a,
                        a.startsWith("runs/") || a.startsWith("hf/")
                                ? tmp.resolve(a).toString()
                                : a));
            }
            tiny(args, tmp);
            CliTest.Run r = CliTest.run(args.toArray(String[]::new));
            assertThat(r.code())
                    .as(shown + "\n  ran as: " + String.join(" ", args) + "\n" + r.err())
                    .isZero();
            ran++;
        }
        assertThat(ran).isGreaterThanOrEqualTo(15);
    }

    static boolean runsHere(List<String> args) {
        String first = args.isEmpty() ? "" : args.getFirst();
        return !(args.contains("cuda")
                || args.contains("nccl")
                || args.contains("leap")
                || args.contains("avvp")
                || args.contains("LLP_DIR")
                || List.of("serve", "launch", "bench", "mqar-sweep").contains(first));
    }

    /** Tiny sizes and an output folder under {@code tmp} for the commands that train or sweep. */
    static void tiny(List<String> args, Path tmp) {
        String cmd = args.isEmpty() ? "" : args.getFirst();
        if (cmd.equals("train")) {
            boolean mqar = args.contains("mqar");
            set(args, "--steps", args.contains("--resume") ? "3" : "2");
            set(args, "--batch-size", "2");
            set(args, "--seq-len", mqar ? "40" : "16");
            if (!args.contains("--init") && !args.contains("--config") && !args.contains("--resume")) {
                set(args, "--dim", "32");
                set(args, "--layers", "1");
                set(args, "--heads", "2");
            }
            if (!args.contains("--out")) {
                set(args, "--out", tmp.resolve("runs/default" + args.hashCode()).toString());
            }
        } else if (cmd.equals("demo")) {
            set(args, "--steps", "2");
            set(args, "--out", tmp.resolve("runs/demo" + args.size()).toString());
        } else if (args.size() > 1 && cmd.equals("eval") && args.get(1).equals("mqar")) {
            set(args, "--examples", "16");
        } else if (args.size() > 1 && cmd.equals("eval") && args.get(1).equals("needle")) {
            set(args, "--trials", "1");
            set(args, "--depths", "0,1");
        }
    }

    static void set(List<String> args, String option, String value) {
        int i = args.indexOf(option);
        if (i >= 0 && i + 1 < args.size() && !args.get(i + 1).startsWith("--")) {
            args.set(i + 1, value);
        } else {
            args.add(option);
            args.add(value);
        }
    }
}
