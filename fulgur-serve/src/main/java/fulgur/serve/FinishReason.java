package fulgur.serve;

/** Why a request stopped generating. */
public enum FinishReason {
    /** A stop string or the end-of-sequence token. */
    STOP,
    /** {@code maxTokens} reached. */
    LENGTH,
    /** Cancelled by the client (or the engine closed). */
    CANCELLED,
    /** Its deadline passed. */
    TIMEOUT;

    /**
     * The OpenAI API's {@code finish_reason} string.
     *
     * @return e.g. {@code "stop"} or {@code "length"}
     */
    public String openAiName() {
        return switch (this) {
            case STOP -> "stop";
            case LENGTH -> "length";
            case CANCELLED -> "cancelled";
            case TIMEOUT -> "timeout";
        };
    }
}
