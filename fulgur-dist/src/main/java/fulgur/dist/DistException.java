package fulgur.dist;

/** A communication failed or was used wrongly; the message names the operation, the group and the ranks. */
public class DistException extends RuntimeException {
    public DistException(String message) {
        super(message);
    }

    public DistException(String message, Throwable cause) {
        super(message, cause);
    }
}
