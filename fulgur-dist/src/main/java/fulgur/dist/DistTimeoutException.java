package fulgur.dist;

/** A rank did not take part in an operation (or a rendezvous) within the timeout. */
public class DistTimeoutException extends DistException {
    public DistTimeoutException(String message) {
        super(message);
    }
}
