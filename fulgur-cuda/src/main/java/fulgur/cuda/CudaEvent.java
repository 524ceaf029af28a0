package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/** A CUDA event, timing-enabled unless created with {@code timing=false}. */
public final class CudaEvent implements AutoCloseable {
    private final MemorySegment handle;
    private boolean closed;

    private CudaEvent(MemorySegment handle) {
        this.handle = handle;
    }

    /** {@return a new timing event} */
    public static CudaEvent create() {
        return create(true);
    }

    /**
     * A new event.
     *
     * @param timing whether it records time (events that do not are cheaper)
     * @return the event, to close
     */
    public static CudaEvent create(boolean timing) {
        return new CudaEvent(
                CudaDriver.get().eventCreate(timing ? CudaDriver.EVENT_DEFAULT : CudaDriver.EVENT_DISABLE_TIMING));
    }

    /**
     * {@return the driver's handle}
     *
     * @throws IllegalStateException when the event is closed
     */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("event is closed");
        return handle;
    }

    /**
     * Records the event on {@code stream}: it completes when the stream's work before it does.
     *
     * @param stream the stream
     * @return this event
     */
    public CudaEvent record(CudaStream stream) {
        CudaDriver.get().eventRecord(handle(), stream.handle());
        return this;
    }

    /** Waits until the event completes. */
    public void synchronize() {
        CudaDriver.get().eventSynchronize(handle());
    }

    /** {@return whether the event has completed} */
    public boolean isDone() {
        return CudaDriver.get().eventQuery(handle());
    }

    /**
     * Milliseconds from {@code start} to this event (both recorded and completed).
     *
     * @param start an earlier event
     * @return the milliseconds
     */
    public float elapsedSince(CudaEvent start) {
        return CudaDriver.get().eventElapsedMillis(start.handle(), handle());
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            CudaDriver.get().eventDestroy(handle);
        }
    }
}
