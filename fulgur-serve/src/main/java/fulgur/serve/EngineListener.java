package fulgur.serve;

import java.time.Duration;

/**
 * Observations an engine reports as they happen, for metrics (a Prometheus server turns them into histograms). Called
 * from the engine's thread: implementations must be quick and must not block.
 */
public interface EngineListener {

    /** A request's first token was handed to its sink, {@code sinceSubmit} after it was submitted. */
    default void onFirstToken(Duration sinceSubmit) {}

    /** A later token was handed to its sink, {@code sincePrevious} after the request's previous one. */
    default void onNextToken(Duration sincePrevious) {}

    /** A request ended, {@code sinceSubmit} after it was submitted (called just before its sink's last call). */
    default void onFinish(FinishReason reason, Usage usage, Duration sinceSubmit) {}
}
