package fulgur.cuda.nvrtc;

/** An NVRTC call failed; a compile failure carries the compiler log. */
public class NvrtcException extends RuntimeException {
    private final String log;

    public NvrtcException(String call, int code, String errorString, String log) {
        super(call + " failed: " + errorString + " (" + code + ")" + (log == null || log.isBlank() ? "" : "\n" + log));
        this.log = log;
    }

    /** The compiler's log ("" when none). */
    public String log() {
        return log == null ? "" : log;
    }
}
