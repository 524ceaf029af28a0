package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/** A CUDA stream. {@link #DEFAULT} is the legacy default stream (not closable). */
public final class CudaStream implements AutoCloseable {
  public static final CudaStream DEFAULT = new CudaStream(MemorySegment.NULL, false);

  private final MemorySegment handle;
  private final boolean owned;
  private boolean closed;

  private CudaStream(MemorySegment handle, boolean owned) {
    this.handle = handle;
    this.owned = owned;
  }

  /** A new non-blocking stream in the current context. */
  public static CudaStream create() {
    return new CudaStream(CudaDriver.get().streamCreate(CudaDriver.STREAM_NON_BLOCKING), true);
  }

  public MemorySegment handle() {
    if (closed) throw new IllegalStateException("stream is closed");
    return handle;
  }

  /** Identity of the stream (0 for the default stream). */
  public long id() { return handle.address(); }

  public void synchronize() { CudaDriver.get().streamSynchronize(handle()); }

  public void waitFor(CudaEvent event) { CudaDriver.get().streamWaitEvent(handle(), event.handle()); }

  public boolean isIdle() { return CudaDriver.get().streamQuery(handle()); }

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
