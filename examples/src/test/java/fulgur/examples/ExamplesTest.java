package fulgur.examples;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Runs each example's main() as a user would and checks that what it prints makes sense. */
class ExamplesTest {

    /** The held-out loss of a model that knows only how often each byte occurs in the excerpt (its unigram entropy). */
    private static final double UNIGRAM_ENTROPY = 3.28;

    @FunctionalInterface
    interface Main {
        void run(String[] args) throws Exception;
    }

    private static String run(Main main, Path dir) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            main.run(new String[] {dir.toString()});
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        old.print(out);
        return out;
    }

    private static List<Double> all(String text, String regex) {
        List<Double> r = new ArrayList<>();
        Matcher m = Pattern.compile(regex).matcher(text);
        while (m.find()) {
            r.add(Double.parseDouble(m.group(1)));
        }
        return r;
    }

    /** The share of characters that English text is made of: letters, digits, punctuation, spaces and newlines. */
    private static double textLike(String s) {
        long ok = s.chars().filter(c -> c == '\n' || (c >= 32 && c < 127)).count();
        return s.isEmpty() ? 0 : (double) ok / s.length();
    }

    @Test
    void trainTinyTnlLearnsMoreThanByteFrequenciesAndSamplesText(@TempDir Path dir) throws Exception {
        String out = run(TrainTinyTnl::main, dir);
        List<Double> evals = all(out, "step \\d+ val_loss=([0-9.]+)");
        assertThat(evals).hasSize(3);
        assertThat(evals).isSortedAccordingTo((a, b) -> Double.compare(b, a)); // falling
        assertThat(all(out, "trained 120 steps: held-out loss ([0-9.]+)"))
                .singleElement()
                .satisfies(l -> assertThat(l).isLessThan(UNIGRAM_ENTROPY - 0.4));
        String sample = out.substring(out.indexOf("sample: ROMEO:") + "sample: ROMEO:".length());
        assertThat(sample.strip()).hasSizeGreaterThan(100);
        assertThat(textLike(sample)).isGreaterThan(0.95);
        assertThat(dir.resolve("checkpoint/model.safetensors")).isRegularFile();
    }

    @Test
    void aCheckpointLoadsWithTheSameLossAndBf16ExportStaysClose(@TempDir Path dir) throws Exception {
        String out = run(CheckpointRoundTrip::main, dir);
        double inMemory = all(out, "in memory: +held-out loss ([0-9.]+)").getFirst();
        double f32 = all(out, "f32 checkpoint: +held-out loss ([0-9.]+)").getFirst();
        double bf16 = all(out, "bf16 reference files: +held-out loss ([0-9.]+)").getFirst();
        assertThat(inMemory).isLessThan(UNIGRAM_ENTROPY - 0.4);
        assertThat(f32).as("f32 weights reload exactly").isEqualTo(inMemory);
        // bf16 keeps 8 significant bits (relative rounding error 2^-9 per weight): the loss moves by far less than 1 %
        assertThat(Math.abs(bf16 - inMemory) / inMemory).isLessThan(5e-3);
        assertThat(out).contains("TransNormerLLM, 2 layers, width 64, 4 heads, 121,920 parameters");
        assertThat(dir.resolve("hf-bf16/config.json")).content().contains("\"model_type\" : \"transnormer\"");
    }

    @Test
    void theEmbeddedEngineCompletesEveryPrompt(@TempDir Path dir) throws Exception {
        String out = run(EmbeddedEngine::main, dir);
        Matcher m = Pattern.compile(
                        "--- LENGTH, (\\d+) prompt \\+ 64 generated tokens\\n([^\\n]+)\\n((?:(?!---).*\\n?)*)")
                .matcher(out);
        List<String> completions = new ArrayList<>();
        List<Integer> promptTokens = new ArrayList<>();
        while (m.find()) {
            promptTokens.add(Integer.parseInt(m.group(1)));
            completions.add(m.group(3));
        }
        // byte tokens: "ROMEO:\n", "First Citizen:\n", "MENENIUS:\n"
        assertThat(promptTokens).containsExactly(7, 15, 10);
        assertThat(completions).allSatisfy(c -> {
            assertThat(c.strip()).hasSizeGreaterThan(20);
            assertThat(textLike(c)).isGreaterThan(0.95);
        });
        assertThat(completions).doesNotHaveDuplicates(); // each request samples with its own seed
    }
}
