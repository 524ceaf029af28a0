package fulgur.serve;

/**
 * Token counts of one finished request.
 *
 * @param promptTokens the prompt's tokens
 * @param completionTokens the tokens generated
 * @param cachedPromptTokens prompt tokens that were not prefilled because a cached state covered them
 */
public record Usage(int promptTokens, int completionTokens, int cachedPromptTokens) {
    /**
     * Prompt and completion tokens together.
     *
     * @return the sum
     */
    public int totalTokens() {
        return promptTokens + completionTokens;
    }
}
