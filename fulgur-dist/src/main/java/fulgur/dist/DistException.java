package fulgur.dist;

/** A communication failed or was used wrongly; the message names the operation, the group and the ranks. */
public class DistException extends RuntimeException {
    /**
     * A failure of a distributed operation.
     *
     * @param message what failed, for the user
     */
    public DistException(String message) {
        super(message);
    }

    /**
     * A failure of a distributed operation, caused by {@code cause}.
     *
     * @param message what failed, for the user
     * @param cause the underlying failure
     */
    public DistException(String message, Throwable cause) {
        super(message, cause);
    }
}
