package fulgur.tensor;

/**
 * A buffer of elements on a device. Lifetimes are explicit: a storage is released by the {@link Scope} that owns it
 * (or by {@link #release()}), never by the garbage collector.
 */
public interface Storage {

    /** {@return the device whose memory holds the buffer} */
    Device device();

    /** {@return the buffer's size in bytes} */
    long byteSize();

    /** Frees the buffer; later use raises an error naming the op. Releasing twice is a no-op. */
    void release();

    /** {@return whether {@link #release()} was called} */
    boolean isReleased();

    /**
     * The scope that frees this storage when it closes, or null for storages owned by the caller.
     *
     * @return the owning scope, or null
     */
    Scope owner();

    /**
     * Records the scope that now owns (and will free) this storage; called by {@link Scope}.
     *
     * @param scope the new owner, or null
     */
    void setOwner(Scope scope);
}
