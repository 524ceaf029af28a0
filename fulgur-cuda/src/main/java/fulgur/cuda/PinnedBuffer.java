package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/** Page-locked host memory (fast and asynchronous copies to and from the device). */
public final class PinnedBuffer implements AutoCloseable {
  private final MemorySegment segment;
  private boolean closed;

  private PinnedBuffer(MemorySegment segment) { this.segment = segment; }

  public static PinnedBuffer allocate(long bytes) {
    return new PinnedBuffer(CudaDriver.get().memHostAlloc(bytes));
  }

  public MemorySegment segment() {
    if (closed) throw new IllegalStateException("pinned buffer is closed");
    return segment;
  }

  public long bytes() { return segment.byteSize(); }

  @Override
  public void close() {
    if (!closed) {
      closed = true;
      CudaDriver.get().memFreeHost(segment);
    }
  }
}
