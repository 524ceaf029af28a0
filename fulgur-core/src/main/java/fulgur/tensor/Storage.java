package fulgur.tensor;

/**
 * A buffer of elements on a device. Lifetimes are explicit: a storage is released by the {@link Scope} that owns it
 * (or by {@link #release()}), never by the garbage collector.
 */
public interface Storage {

    Device device();

    long byteSize();

    /** Frees the buffer; later use raises an error naming the op. Releasing twice is a no-op. */
    void release();

    boolean isReleased();

    /** The scope that frees this storage when it closes, or null for storages owned by the caller. */
    Scope owner();

    void setOwner(Scope scope);
}
