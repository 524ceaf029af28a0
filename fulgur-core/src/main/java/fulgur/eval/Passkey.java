package fulgur.eval;

import fulgur.autograd.GradMode;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * Passkey retrieval (needle in a haystack, as in Mohtashami and Jaggi's landmark-attention paper and the long-context
 * reports after it): a random five-digit pass key is hidden at a depth of a filler text of a given length in tokens,
 * and the model, asked for it at the end, must produce it by greedy decoding. The prompt is read through the decoding
 * cache in chunks, so a recurrent model reads a million tokens in constant memory.
 */
public final class Passkey {
    /** The task's instruction, filler sentence, needle (with {@code %s} for the key) and question. */
    public static final String INTRO =
            "There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
                    + "I will quiz you about the important information there.\n";
    /** The text repeated around the key (the passkey test's filler). */
    public static final String FILLER =
            "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again. ";
    /** The sentence that hides the key (its two {@code %s} are the key). */
    public static final String NEEDLE = "The pass key is %s. Remember it. %s is the pass key. ";
    /** The question at the end, which the model answers with the key. */
    public static final String QUESTION = "\nWhat is the pass key? The pass key is";

    /**
     * Context lengths in tokens, depths in [0, 1] (0: the key right after the instruction), trials per cell.
     *
     * @param lengths the context lengths, in tokens
     * @param depths where the key sits in the context, each in [0, 1]
     * @param trials keys tried per cell, &gt; 0
     * @param seed the seed of the keys
     * @param chunk tokens per forward, &gt; 0
     * @param filler the filler text, or null for {@link #FILLER}
     */
    public record Settings(
            List<Integer> lengths, List<Double> depths, int trials, long seed, int chunk, String filler) {
        /**
         * Checks and copies.
         *
         * @throws IllegalArgumentException for a depth outside [0, 1], or trials or chunk not positive
         */
        public Settings {
            lengths = List.copyOf(lengths);
            depths = List.copyOf(depths);
            for (double d : depths) {
                if (!(d >= 0 && d <= 1)) {
                    throw new IllegalArgumentException("depths must be in [0, 1], got " + d);
                }
            }
            if (trials <= 0 || chunk <= 0) {
                throw new IllegalArgumentException("trials and chunk must be > 0");
            }
            if (filler == null || filler.isEmpty()) {
                filler = FILLER;
            }
        }
    }

    /**
     * One cell of the table: how many of {@code trials} keys came back at this length and depth.
     *
     * @param length the context length, in tokens
     * @param depth where the key sat
     * @param correct the keys that came back
     * @param trials the keys tried
     */
    public record Cell(int length, double depth, int correct, int trials) {
        /** {@return the fraction of keys that came back} */
        public double accuracy() {
            return (double) correct / trials;
        }
    }

    private Passkey() {}

    /**
     * Runs every (length, depth) cell; {@code done} is told of each as it finishes.
     *
     * @param model the model
     * @param tok its tokenizer
     * @param s the settings
     * @param done told of each cell, or null
     * @return the cells, lengths outer, depths inner
     * @throws IllegalArgumentException when the filler has no tokens
     */
    public static List<Cell> evaluate(CausalLM model, Tokenizer tok, Settings s, Consumer<Cell> done) {
        int[] intro = tok.encode(INTRO);
        int[] filler = tok.encode(s.filler());
        int[] question = tok.encode(QUESTION);
        if (filler.length == 0) {
            throw new IllegalArgumentException("the filler text has no tokens");
        }
        SplittableRandom rng = new SplittableRandom(s.seed());
        List<Cell> cells = new ArrayList<>();
        boolean was = model.module().isTraining();
        model.module().train(false);
        try {
            for (int length : s.lengths()) {
                for (double depth : s.depths()) {
                    int correct = 0;
                    for (int t = 0; t < s.trials(); t++) {
                        String key = Integer.toString(10000 + rng.nextInt(90000));
                        int[] needle = tok.encode(NEEDLE.formatted(key, key));
                        int[] prompt = prompt(intro, filler, needle, question, length, depth);
                        String answer = answer(model, tok, prompt, s.chunk(), tok.encode(" " + key).length + 2);
                        correct += firstNumber(answer).equals(key) ? 1 : 0;
                    }
                    Cell c = new Cell(length, depth, correct, s.trials());
                    cells.add(c);
                    if (done != null) {
                        done.accept(c);
                    }
                }
            }
        } finally {
            model.module().train(was);
        }
        return cells;
    }

    /**
     * The prompt of about {@code length} tokens: instruction, filler with the needle after {@code depth} of it (at a
     * filler sentence boundary), question. Shorter than its fixed parts, it is just those.
     */
    static int[] prompt(int[] intro, int[] filler, int[] needle, int[] question, int length, double depth) {
        int fixed = intro.length + needle.length + question.length;
        int fill = Math.max(0, length - fixed);
        int units = fill / filler.length;
        int before = (int) Math.round(units * depth);
        int[] out = new int[fixed + units * filler.length];
        int p = 0;
        System.arraycopy(intro, 0, out, p, intro.length);
        p += intro.length;
        for (int u = 0; u < units; u++) {
            if (u == before) {
                System.arraycopy(needle, 0, out, p, needle.length);
                p += needle.length;
            }
            System.arraycopy(filler, 0, out, p, filler.length);
            p += filler.length;
        }
        if (before >= units) {
            System.arraycopy(needle, 0, out, p, needle.length);
            p += needle.length;
        }
        System.arraycopy(question, 0, out, p, question.length);
        return out;
    }

    /** Greedy decoding of up to {@code maxTokens} after reading {@code prompt} in chunks. */
    static String answer(CausalLM model, Tokenizer tok, int[] prompt, int chunk, int maxTokens) {
        fulgur.tensor.Device d = model.module().device();
        int vocab = model.vocabSize();
        for (int id : prompt) {
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token id " + id + " is outside the model's vocabulary of " + vocab);
            }
        }
        try (var g = GradMode.noGrad();
                DecodeCache cache = model.newCache()) {
            float[] logits = null;
            for (int from = 0; from < prompt.length; from += chunk) {
                int n = Math.min(chunk, prompt.length - from);
                int[] part = java.util.Arrays.copyOfRange(prompt, from, from + n);
                try (Scope sc = Scope.open("passkey prefill")) {
                    logits = model.lastLogits(Tensor.ofInts(part, 1, n).to(d), cache)
                            .toFloatArray();
                }
            }
            int[] out = new int[maxTokens];
            for (int i = 0; i < maxTokens; i++) {
                int next = argmax(logits);
                out[i] = next;
                if (i + 1 < maxTokens) {
                    try (Scope sc = Scope.open("passkey decode")) {
                        logits = model.lastLogits(
                                        Tensor.ofInts(new int[] {next}, 1, 1).to(d), cache)
                                .toFloatArray();
                    }
                }
            }
            return tok.decode(out);
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** The first run of digits in {@code s} (empty if none). */
    static String firstNumber(String s) {
        var m = java.util.regex.Pattern.compile("\\d+").matcher(s);
        return m.find() ? m.group() : "";
    }
}
