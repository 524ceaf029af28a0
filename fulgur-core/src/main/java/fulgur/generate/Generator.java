package fulgur.generate;

import fulgur.autograd.GradMode;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Text generation with recurrent decoding: the prompt is prefilled in one pass (the chunked form), then each new
 * token costs one step against the model's fixed-size cache. Text is streamed as it becomes valid UTF-8.
 */
public final class Generator {

    /**
     * How to generate: at most {@code maxNewTokens} tokens, sampled at {@code temperature} (0: greedy) from the {@code
     * topK} most likely (0: all) within top-p {@code topP}, drawn from {@code seed}, stopping before any of the {@code
     * stop} strings.
     *
     * @param maxNewTokens the most tokens to generate, ≥ 0
     * @param temperature the softmax temperature, ≥ 0 (0: greedy)
     * @param topK keep the k most likely tokens, 0 for all
     * @param topP keep the smallest set of tokens whose probability reaches p, in (0, 1]
     * @param seed the seed of the draws
     * @param stop strings that end the generation (not included in the text); null for none
     */
    public record Settings(int maxNewTokens, double temperature, int topK, double topP, long seed, List<String> stop) {
        /**
         * Checks the settings and copies the stop list.
         *
         * @throws IllegalArgumentException when {@code maxNewTokens} is negative
         */
        public Settings {
            if (maxNewTokens < 0) {
                throw new IllegalArgumentException("max new tokens must be >= 0, got " + maxNewTokens);
            }
            stop = stop == null ? List.of() : List.copyOf(stop);
        }
    }

    /**
     * What came out: the text (without the prompt), the token count and the stop reason, and the token ids.
     *
     * @param text the generated text, without the prompt
     * @param tokens the tokens generated
     * @param stopReason why it stopped: "length", "eos" or "stop"
     * @param tokensPerSecond the generation speed after the prompt
     * @param cacheBytes the decoding state's bytes at the end
     * @param ids the generated token ids
     */
    public record Output(
            String text, int tokens, String stopReason, double tokensPerSecond, long cacheBytes, int[] ids) {}

    private Generator() {}

    /**
     * The logits with the ids past the tokenizer's vocabulary made impossible: a model's vocabulary may be padded past
     * its tokenizer's (to a multiple of 64, say), and those ids have no text.
     */
    static float[] withinVocabulary(float[] logits, int tokenizerVocab) {
        for (int i = tokenizerVocab; i < logits.length; i++) {
            logits[i] = Float.NEGATIVE_INFINITY;
        }
        return logits;
    }

    /**
     * Continues {@code prompt} (encoded with {@code tok}; an empty prompt starts from the beginning-of-sequence token,
     * or a newline), handing each piece of text to {@code stream} (null: none) as soon as it is valid UTF-8.
     *
     * @param model the model
     * @param tok its tokenizer
     * @param prompt the text to continue
     * @param s the settings
     * @param stream receives the text as it is generated, or null
     * @return the output
     * @throws IllegalArgumentException for invalid sampling settings
     * @throws IllegalStateException when the model's logits turn non-finite, naming the step
     */
    public static Output generate(CausalLM model, Tokenizer tok, String prompt, Settings s, Consumer<String> stream) {
        int[] promptIds = tok.encode(prompt);
        if (promptIds.length == 0) {
            promptIds = tok.bosId().isPresent() ? new int[] {tok.bosId().getAsInt()} : tok.encode("\n");
        }
        return generate(model, tok, promptIds, s, stream);
    }

    /**
     * The same from prompt token ids (at least one).
     *
     * @param model the model
     * @param tok its tokenizer
     * @param promptIds the prompt's token ids, at least one
     * @param s the settings
     * @param stream receives the text as it is generated, or null
     * @return the output
     * @throws IllegalArgumentException for an empty prompt or invalid sampling settings
     * @throws IllegalStateException when the model's logits turn non-finite, naming the step
     */
    public static Output generate(CausalLM model, Tokenizer tok, int[] promptIds, Settings s, Consumer<String> stream) {
        if (promptIds.length == 0) {
            throw new IllegalArgumentException("generate: the prompt must hold at least one token");
        }
        Sampler sampler = new Sampler(s.temperature(), s.topK(), s.topP(), s.seed());
        List<Integer> out = new ArrayList<>();
        String emitted = "";
        String reason = "length";
        boolean was = model.module().isTraining();
        model.module().train(false);
        long start = System.nanoTime();
        long cacheBytes;
        try (var g = GradMode.noGrad();
                DecodeCache cache = model.newCache()) {
            float[] logits;
            try (Scope sc = Scope.open("prefill")) {
                logits = model.lastLogits(
                                Tensor.ofInts(promptIds, 1, promptIds.length)
                                        .to(model.module().device()),
                                cache)
                        .toFloatArray();
            }
            for (int i = 0; i < s.maxNewTokens(); i++) {
                int next;
                try {
                    next = sampler.sample(withinVocabulary(logits, tok.vocabSize()));
                } catch (IllegalStateException e) {
                    throw new IllegalStateException(
                            (i == 0 ? "after the prompt" : "after " + i + " generated tokens") + ": " + e.getMessage(),
                            e);
                }
                if (tok.eosId().isPresent() && next == tok.eosId().getAsInt()) {
                    reason = "eos";
                    break;
                }
                out.add(next);
                String text = decodeValid(tok, out);
                int cut = stopIndex(text, s.stop());
                if (cut >= 0) {
                    text = text.substring(0, cut);
                    emit(stream, text, emitted);
                    emitted = text;
                    reason = "stop";
                    break;
                }
                emit(stream, text, emitted);
                emitted = text;
                if (i + 1 < s.maxNewTokens()) {
                    try (Scope sc = Scope.open("decode")) {
                        logits = model.lastLogits(
                                        Tensor.ofInts(new int[] {next}, 1, 1)
                                                .to(model.module().device()),
                                        cache)
                                .toFloatArray();
                    }
                }
            }
            cacheBytes = cache.stateBytes();
        } finally {
            model.module().train(was);
        }
        double secs = (System.nanoTime() - start) / 1e9;
        return new Output(
                emitted,
                out.size(),
                reason,
                out.size() / Math.max(secs, 1e-9),
                cacheBytes,
                out.stream().mapToInt(Integer::intValue).toArray());
    }

    private static void emit(Consumer<String> stream, String text, String emitted) {
        if (stream != null && text.length() > emitted.length() && text.startsWith(emitted)) {
            stream.accept(text.substring(emitted.length()));
        }
    }

    /** The decoded text up to the last complete UTF-8 character (a partial multi-byte tail waits for more tokens). */
    private static String decodeValid(Tokenizer tok, List<Integer> ids) {
        int[] a = ids.stream().mapToInt(Integer::intValue).toArray();
        String text = tok.decode(a);
        while (text.endsWith("\uFFFD")) {
            text = text.substring(0, text.length() - 1);
        }
        return text;
    }

    private static int stopIndex(String text, List<String> stops) {
        int best = -1;
        for (String st : stops) {
            int i = st.isEmpty() ? -1 : text.indexOf(st);
            if (i >= 0 && (best < 0 || i < best)) {
                best = i;
            }
        }
        return best;
    }
}
