package fulgur.serve;

import java.time.Duration;

/**
 * Observations an engine reports as they happen, for metrics (a Prometheus server turns them into histograms). Called
 * from the engine's thread: implementations must be quick and must not block.
 */
public interface EngineListener {

    /**
     * A request's first token was handed to its sink, {@code sinceSubmit} after it was submitted.
     *
     * @param sinceSubmit the time to first token
     */
    default void onFirstToken(Duration sinceSubmit) {}

    /**
     * A later token was handed to its sink, {@code sincePrevious} after the request's previous one.
     *
     * @param sincePrevious the inter-token latency
     */
    default void onNextToken(Duration sincePrevious) {}

    /**
     * A request ended, {@code sinceSubmit} after it was submitted (called just before its sink's last call).
     *
     * @param reason why it ended
     * @param usage its token counts
     * @param sinceSubmit its whole latency
     */
    default void onFinish(FinishReason reason, Usage usage, Duration sinceSubmit) {}
}
