package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/** A CUDA event, timing-enabled unless created with {@code timing=false}. */
public final class CudaEvent implements AutoCloseable {
  private final MemorySegment handle;
  private boolean closed;

  private CudaEvent(MemorySegment handle) { this.handle = handle; }

  public static CudaEvent create() { return create(true); }

  public static CudaEvent create(boolean timing) {
    return new CudaEvent(CudaDriver.get().eventCreate(timing ? CudaDriver.EVENT_DEFAULT : CudaDriver.EVENT_DISABLE_TIMING));
  }

  public MemorySegment handle() {
    if (closed) throw new IllegalStateException("event is closed");
    return handle;
  }

  public CudaEvent record(CudaStream stream) {
    CudaDriver.get().eventRecord(handle(), stream.handle());
    return this;
  }

  public void synchronize() { CudaDriver.get().eventSynchronize(handle()); }

  public boolean isDone() { return CudaDriver.get().eventQuery(handle()); }

  /** Milliseconds from {@code start} to this event (both recorded and completed). */
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
