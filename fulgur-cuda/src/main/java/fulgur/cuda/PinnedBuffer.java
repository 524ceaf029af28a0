package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/** Page-locked host memory (fast and asynchronous copies to and from the device). */
public final class PinnedBuffer implements AutoCloseable {
    private final MemorySegment segment;
    private boolean closed;

    private PinnedBuffer(MemorySegment segment) {
        this.segment = segment;
    }

    /**
     * Page-locked host memory of {@code bytes}.
     *
     * @param bytes the size
     * @return the buffer, to close
     * @throws fulgur.cuda.driver.CudaException when the allocation fails
     */
    public static PinnedBuffer allocate(long bytes) {
        return new PinnedBuffer(CudaDriver.get().memHostAlloc(bytes));
    }

    /**
     * {@return the memory}
     *
     * @throws IllegalStateException when the buffer is closed
     */
    public MemorySegment segment() {
        if (closed) throw new IllegalStateException("pinned buffer is closed");
        return segment;
    }

    /** {@return the size in bytes} */
    public long bytes() {
        return segment.byteSize();
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            CudaDriver.get().memFreeHost(segment);
        }
    }
}
