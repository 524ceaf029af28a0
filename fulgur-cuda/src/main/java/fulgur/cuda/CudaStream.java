package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/** A CUDA stream. {@link #DEFAULT} is the legacy default stream (not closable). */
public final class CudaStream implements AutoCloseable {
    /** The legacy default stream (not closable, cannot be captured). */
    public static final CudaStream DEFAULT = new CudaStream(MemorySegment.NULL, false);

    private final MemorySegment handle;
    private final boolean owned;
    private boolean closed;

    private CudaStream(MemorySegment handle, boolean owned) {
        this.handle = handle;
        this.owned = owned;
    }

    /**
     * A new non-blocking stream in the current context.
     *
     * @return the stream, to close
     */
    public static CudaStream create() {
        return new CudaStream(CudaDriver.get().streamCreate(CudaDriver.STREAM_NON_BLOCKING), true);
    }

    /**
     * {@return the driver's handle}
     *
     * @throws IllegalStateException when the stream is closed
     */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("stream is closed");
        return handle;
    }

    /**
     * Identity of the stream (0 for the default stream).
     *
     * @return the id
     */
    public long id() {
        return handle.address();
    }

    /** Waits until all work on the stream is done. */
    public void synchronize() {
        CudaDriver.get().streamSynchronize(handle());
    }

    /**
     * Makes later work on this stream wait for {@code event}.
     *
     * @param event an event recorded on any stream
     */
    public void waitFor(CudaEvent event) {
        CudaDriver.get().streamWaitEvent(handle(), event.handle());
    }

    /** {@return whether all work on the stream is done} */
    public boolean isIdle() {
        return CudaDriver.get().streamQuery(handle());
    }

    @Override
    public void close() {
        if (owned && !closed) {
            closed = true;
            CudaDriver.get().streamSynchronize(handle);
            CachingAllocator.streamDestroyed(handle.address());
            CudaDriver.get().streamDestroy(handle);
        }
    }
}
