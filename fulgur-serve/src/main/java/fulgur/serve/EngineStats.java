package fulgur.serve;

/**
 * A snapshot of an engine's state and totals since it started.
 *
 * @param running sequences in the running batch
 * @param queued requests waiting for admission
 * @param stateBytes bytes held by recurrent states of running sequences (fixed per sequence)
 * @param kvBytes bytes held by KV-cache blocks of softmax layers (grows with context)
 * @param cacheBytes bytes held by the prefix state cache
 * @param requests requests finished, by any reason
 * @param promptTokens prompt tokens of all requests
 * @param cachedPromptTokens prompt tokens served from the prefix state cache
 * @param completionTokens generated tokens of all requests
 * @param steps engine steps (one batched forward each)
 */
public record EngineStats(
        int running,
        int queued,
        long stateBytes,
        long kvBytes,
        long cacheBytes,
        long requests,
        long promptTokens,
        long cachedPromptTokens,
        long completionTokens,
        long steps) {}
