package fulgur.cuda.cublas;

/** A cuBLASLt call returned an error status: names the call and the status. */
public final class CublasLtException extends RuntimeException {
    private final int status;

    public CublasLtException(String call, int status, String statusName, String statusText) {
        super(call + " failed: " + statusName + " (" + status + ")"
                + (statusText == null || statusText.isBlank() ? "" : ": " + statusText));
        this.status = status;
    }

    public int status() {
        return status;
    }
}
