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

    private final Reason reason;
    private final int retryAfterSeconds;

    public RejectedRequestException(Reason reason, String message, int retryAfterSeconds) {
        super(message);
        this.reason = reason;
        this.retryAfterSeconds = retryAfterSeconds;
    }

    public Reason reason() {
        return reason;
    }

    /** For {@link Reason#QUEUE_FULL}: a suggested wait before retrying. */
    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }
}
