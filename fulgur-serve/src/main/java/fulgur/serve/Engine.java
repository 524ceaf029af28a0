package fulgur.serve;

import fulgur.tokenizer.Tokenizer;

/**
 * A generation engine that many clients share: requests are admitted against a memory budget, their prompts prefilled
 * and their tokens decoded in batches with every other running request, and each token is handed to the request's
 * {@link TokenSink} as soon as it is sampled. Java applications embed it directly; the HTTP server is one client of it.
 * Thread-safe: {@link #submit} may be called from any thread.
 */
public interface Engine extends AutoCloseable {

    /**
     * What is being served: name, architecture, config, limits.
     *
     * @return the model's description
     */
    ModelInfo model();

    /**
     * The tokenizer requests are encoded with (prompts arrive as token ids).
     *
     * @return the tokenizer
     */
    Tokenizer tokenizer();

    /**
     * Queues a request and returns at once. Tokens, then exactly one of {@link TokenSink#onFinish} or
     * {@link TokenSink#onError}, reach {@code sink} from the engine's thread, in order.
     *
     * @param request the request
     * @param sink receives its tokens and its end
     * @return a handle to cancel it or ask whether it is done
     * @throws RejectedRequestException when the request can never run (too long for the limits) or the queue is full
     */
    RequestHandle submit(GenerationRequest request, TokenSink sink);

    /**
     * A snapshot of the engine's counters and gauges (for metrics and tests).
     *
     * @return the snapshot
     */
    EngineStats stats();

    /**
     * Registers a listener for time-to-first-token, inter-token latency and finished requests (for histograms). Engines
     * that observe nothing ignore it.
     *
     * @param listener the listener
     */
    default void addListener(EngineListener listener) {}

    /** Stops the engine: running and queued requests finish with {@link FinishReason#CANCELLED}; memory is freed. */
    @Override
    void close();
}
