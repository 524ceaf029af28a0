package fulgur.serve;

/** A submitted request. */
public interface RequestHandle {

    /** Stops the request and frees its slot at the next engine step; its sink gets {@link FinishReason#CANCELLED}. */
    void cancel();

    /**
     * Whether the sink got its last call.
     *
     * @return true once the request ended
     */
    boolean isDone();
}
