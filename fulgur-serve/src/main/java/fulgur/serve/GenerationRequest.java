package fulgur.serve;

import java.time.Instant;
import java.util.List;

/**
 * One sequence to generate: the prompt's token ids, how to sample, when to stop, and the deadline after which the
 * engine finishes it with {@link FinishReason#TIMEOUT} wherever it is (queued or running).
 *
 * @param prompt the prompt's token ids, at least one
 * @param sampling how to sample
 * @param maxTokens the most tokens to generate, ≥ 0
 * @param stop strings that end the generation when they appear in the generated text (not included in the output)
 * @param deadline when the engine gives up on the request, or null for the engine's default
 */
public record GenerationRequest(
        int[] prompt, SamplingParams sampling, int maxTokens, List<String> stop, Instant deadline) {
    /**
     * Checks the request (at least one prompt token, {@code maxTokens} &ge; 0) and copies the prompt; a null {@code
     * stop} means none, a null {@code deadline} the engine's default.
     */
    public GenerationRequest {
        if (prompt == null || prompt.length == 0) {
            throw new IllegalArgumentException("prompt must hold at least one token");
        }
        if (maxTokens < 0) {
            throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        }
        prompt = prompt.clone();
        stop = stop == null ? List.of() : List.copyOf(stop);
    }
}
