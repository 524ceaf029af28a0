package fulgur.serve;

/** A request the engine will not queue: {@link #reason()} tells a server which status to answer with. */
public final class RejectedRequestException extends RuntimeException {
    /** Why a request was refused. */
    public enum Reason {
        /** The request exceeds a limit that no amount of waiting lifts (prompt or max tokens too large). */
        TOO_LARGE,
        /** The queue is full now; retry later. */
        QUEUE_FULL
    }

    /** Why the request was refused. */
    private final Reason reason;
    /** For {@link Reason#QUEUE_FULL}, the suggested wait before retrying, in seconds. */
    private final int retryAfterSeconds;

    /**
     * A refusal.
     *
     * @param reason why
     * @param message the message for the client
     * @param retryAfterSeconds the suggested wait before retrying (queue full), in seconds
     */
    public RejectedRequestException(Reason reason, String message, int retryAfterSeconds) {
        super(message);
        this.reason = reason;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    /**
     * {@return why the request was refused (the HTTP server answers 400 when too large, 429 when the queue is full)}
     */
    public Reason reason() {
        return reason;
    }

    /**
     * For {@link Reason#QUEUE_FULL}: a suggested wait before retrying.
     *
     * @return the wait, in seconds
     */
    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
