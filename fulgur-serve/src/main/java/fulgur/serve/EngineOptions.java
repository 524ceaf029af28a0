package fulgur.serve;

import java.time.Duration;

/**
 * Limits and budgets of an engine.
 *
 * @param maxRunning sequences decoded together at most (the batch)
 * @param maxQueued requests waiting beyond which submit is refused with {@link RejectedRequestException.Reason#QUEUE_FULL}
 * @param maxPromptTokens longest prompt accepted
 * @param maxNewTokens largest maxTokens accepted
 * @param memoryBudgetBytes state and KV memory that admitted requests may hold together
 * @param prefillChunkTokens prompt tokens prefilled per engine step and sequence, so running streams do not stall
 * @param stateCacheBytes byte budget of the prefix state cache (0: off)
 * @param stateCacheInterval besides prompt ends, cache states every this many prompt tokens (0: prompt ends only)
 * @param defaultTimeout deadline of requests that give none
 * @param decodeGraphs batch sizes whose decode step may be kept as a recorded device graph (CUDA graphs), replayed
 *     instead of launching its kernels one by one; 0: always launch them (the CPU always does)
 */
public record EngineOptions(
        int maxRunning,
        int maxQueued,
        int maxPromptTokens,
        int maxNewTokens,
        long memoryBudgetBytes,
        int prefillChunkTokens,
        long stateCacheBytes,
        int stateCacheInterval,
        Duration defaultTimeout,
        int decodeGraphs) {

    /**
     * 64 running sequences, 1 024 queued, prompts up to 32 768 tokens and 4 096 new ones, a 4 GiB memory budget,
     * prefill in chunks of 512 tokens, a 1 GiB prefix state cache that also keeps a state every 4 096 prompt tokens,
     * and a 10-minute deadline.
     *
     * @return the options
     */
    public static EngineOptions defaults() {
        return new EngineOptions(64, 1024, 32_768, 4096, 4L << 30, 512, 1L << 30, 4096, Duration.ofMinutes(10), 4);
    }
}
