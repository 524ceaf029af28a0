package fulgur.eval;

import com.fasterxml.jackson.databind.JsonNode;
import fulgur.io.Json;
import fulgur.models.CausalLM;
import fulgur.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Multiple choice by log-likelihood, as lm-evaluation-harness scores it: each choice is a continuation of the
 * context, scored by the summed log-probability of its tokens; accuracy takes the highest, length-normalised accuracy
 * the highest per character of the choice ({@code acc_norm}). The context and a choice are split as the harness does:
 * trailing spaces of the context move to the continuation, and the continuation's tokens are those of
 * {@code context + choice} after the context's.
 */
public final class MultipleChoice {

    /**
     * One question: {@code gold} is the index of the right choice.
     *
     * @param context the text before the choices
     * @param choices the continuations, at least two
     * @param gold the index of the right one
     */
    public record Task(String context, List<String> choices, int gold) {}

    /**
     * Accuracy, length-normalised accuracy, and the number of tasks.
     *
     * @param accuracy the fraction of tasks where the most likely choice is the right one
     * @param normalizedAccuracy the same with log-likelihoods divided by the choices' lengths in bytes
     * @param tasks the number of tasks
     */
    public record Result(double accuracy, double normalizedAccuracy, int tasks) {}

    private MultipleChoice() {}

    /**
     * Reads a JSON Lines file of {@code {"context": ..., "choices": [...], "gold": i}} objects.
     *
     * @param file the JSON Lines file
     * @return the tasks
     * @throws IOException when the file cannot be read
     * @throws IllegalArgumentException when the file is missing, empty or a line is malformed, naming the line
     */
    public static List<Task> read(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--data: no such file: " + file);
        }
        List<Task> tasks = new ArrayList<>();
        int line = 0;
        for (String l : Files.readAllLines(file)) {
            line++;
            if (l.isBlank()) {
                continue;
            }
            String where = file + ":" + line + ": ";
            JsonNode n;
            try {
                n = Json.mapper().readTree(l);
            } catch (IOException e) {
                throw new IllegalArgumentException(where + "not a JSON object");
            }
            JsonNode ctx = n.get("context");
            JsonNode ch = n.get("choices");
            JsonNode gold = n.get("gold");
            if (ctx == null || !ctx.isTextual()) {
                throw new IllegalArgumentException(where + "\"context\" must be a string");
            }
            if (ch == null || !ch.isArray() || ch.size() < 2) {
                throw new IllegalArgumentException(where + "\"choices\" must be an array of at least two strings");
            }
            List<String> choices = new ArrayList<>();
            for (JsonNode c : ch) {
                if (!c.isTextual() || c.asText().isEmpty()) {
                    throw new IllegalArgumentException(where + "every choice must be a non-empty string");
                }
                choices.add(c.asText());
            }
            if (gold == null || !gold.canConvertToInt() || gold.asInt() < 0 || gold.asInt() >= choices.size()) {
                throw new IllegalArgumentException(
                        where + "\"gold\" must be the index of a choice (0.." + (choices.size() - 1) + ")");
            }
            tasks.add(new Task(ctx.asText(), List.copyOf(choices), gold.asInt()));
        }
        if (tasks.isEmpty()) {
            throw new IllegalArgumentException(file + ": no tasks");
        }
        return tasks;
    }

    /**
     * The log-likelihood of each choice of {@code task}.
     *
     * @param model the model
     * @param tok its tokenizer
     * @param task the question
     * @return the summed log-likelihood of each choice's tokens after the context
     */
    public static double[] scores(CausalLM model, Tokenizer tok, Task task) {
        double[] ll = new double[task.choices().size()];
        for (int i = 0; i < ll.length; i++) {
            String context = task.context();
            String continuation = task.choices().get(i);
            int spaces = context.length() - context.stripTrailing().length();
            if (spaces > 0) {
                continuation = context.substring(context.length() - spaces) + continuation;
                context = context.substring(0, context.length() - spaces);
            }
            int[] whole = tok.encode(context + continuation);
            int[] ctx = tok.encode(context);
            int[] cont = Arrays.copyOfRange(whole, Math.min(ctx.length, whole.length), whole.length);
            ll[i] = LogLikelihood.of(model, withStart(tok, ctx), cont);
        }
        return ll;
    }

    /** The context with BOS in front (or EOS, when there is no BOS), so the first token is predicted too. */
    static int[] withStart(Tokenizer tok, int[] ctx) {
        var start = tok.bosId().isPresent() ? tok.bosId() : tok.eosId();
        if (start.isEmpty()) {
            return ctx;
        }
        int[] out = new int[ctx.length + 1];
        out[0] = start.getAsInt();
        System.arraycopy(ctx, 0, out, 1, ctx.length);
        return out;
    }

    /**
     * Scores every task; {@code progress} is told after each.
     *
     * @param model the model
     * @param tok its tokenizer
     * @param tasks the questions
     * @param progress told the number of tasks done, or null
     * @return the accuracies
     */
    public static Result evaluate(
            CausalLM model, Tokenizer tok, List<Task> tasks, java.util.function.IntConsumer progress) {
        int right = 0;
        int rightNorm = 0;
        boolean was = model.module().isTraining();
        model.module().train(false);
        try {
            for (int t = 0; t < tasks.size(); t++) {
                Task task = tasks.get(t);
                double[] ll = scores(model, tok, task);
                int best = 0;
                int bestNorm = 0;
                for (int i = 1; i < ll.length; i++) {
                    if (ll[i] > ll[best]) {
                        best = i;
                    }
                    if (ll[i] / task.choices().get(i).length()
                            > ll[bestNorm] / task.choices().get(bestNorm).length()) {
                        bestNorm = i;
                    }
                }
                right += best == task.gold() ? 1 : 0;
                rightNorm += bestNorm == task.gold() ? 1 : 0;
                if (progress != null) {
                    progress.accept(t + 1);
                }
            }
        } finally {
            model.module().train(was);
        }
        return new Result((double) right / tasks.size(), (double) rightNorm / tasks.size(), tasks.size());
    }
}
