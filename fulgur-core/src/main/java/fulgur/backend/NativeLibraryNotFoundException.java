package fulgur.backend;

/** A native library (libcuda, libnvrtc, libcublasLt) could not be found or opened. */
public final class NativeLibraryNotFoundException extends RuntimeException {
    public NativeLibraryNotFoundException(String message, Throwable cause) {
        super(message, cause);
    }
}
