package fulgur.dist;

/** A rank did not take part in an operation (or a rendezvous) within the timeout. */
public class DistTimeoutException extends DistException {
    /**
     * A wait that ran past the group's timeout.
     *
     * @param message what was waited for, for the user
     */
    public DistTimeoutException(String message) {
        super(message);
    }
}
