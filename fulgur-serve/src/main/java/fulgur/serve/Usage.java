package fulgur.serve;

/**
 * Token counts of one finished request.
 *
 * @param cachedPromptTokens prompt tokens that were not prefilled because a cached state covered them
 */
public record Usage(int promptTokens, int completionTokens, int cachedPromptTokens) {
    /** Prompt and completion tokens together. */
    public int totalTokens() {
        return promptTokens + completionTokens;
    }
}
