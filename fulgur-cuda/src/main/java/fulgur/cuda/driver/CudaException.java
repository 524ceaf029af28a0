package fulgur.cuda.driver;

/** A CUDA driver call returned an error: names the call, the code and the driver's own text. */
public final class CudaException extends RuntimeException {
    private final String call;
    private final int code;

    public CudaException(String call, int code, String errorName, String errorString) {
        super(call + " failed: " + errorName + " (" + code + "): " + errorString);
        this.call = call;
        this.code = code;
    }

    public String call() {
        return call;
    }

    public int code() {
        return code;
    }
}
