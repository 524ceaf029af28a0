package fulgur.cuda;

import fulgur.backend.Capturing;
import fulgur.backend.DeferredChecks;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.StepGraph;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.driver.CudaException;
import fulgur.tensor.Device;

/**
 * The runtime of one CUDA device ({@link fulgur.backend.Backends#runtime}): the caching allocator's statistics, index
 * checks deferred to the end of a span, CUDA-graph capture of the work {@link CudaBackend} enqueues on its stream.
 */
public final class CudaRuntime implements DeviceRuntime {
  private final Gpu gpu;

  CudaRuntime(CudaBackend backend) { this.gpu = backend.gpu(); }

  @Override
  public Device device() { return gpu.device; }

  @Override
  public long peakMemoryBytes() { return gpu.ctx.allocator().report().peakInUseBytes(); }

  @Override
  public void resetPeakMemory() { gpu.ctx.allocator().resetPeaks(); }

  @Override
  public DeferredChecks deferChecks() { return gpu.deferChecks(); }

  @Override
  public void synchronize() { gpu.synchronize(); }

  /**
   * Captures {@code body} as a CUDA graph on the backend's stream: allocations inside come from a private pool that
   * the graph keeps, index checks write flags that each replay re-arms and {@link StepGraph#replay()} verifies, host
   * data uploaded inside becomes a pinned constant, and a host read inside fails with a message naming it.
   */
  @Override
  public StepGraph capture(Runnable body) {
    gpu.bind();
    gpu.synchronize(); // blocks the capture takes from the cache must be idle
    CachingAllocator allocator = gpu.ctx.allocator();
    CachingAllocator.GraphPool pool = allocator.beginCapture();
    Gpu.Capture recorded = gpu.beginCapture();
    CudaGraph graph;
    try {
      graph = CudaGraph.capture(gpu.stream, () -> Capturing.during(body));
    } catch (RuntimeException | Error e) {
      gpu.endCapture();
      allocator.endCapture(pool);
      recorded.close();
      allocator.releasePool(pool); // nothing of the capture ever ran
      if (e instanceof CudaException c) {
        throw new IllegalStateException("the step cannot be captured as a CUDA graph: " + c.getMessage()
            + " (a call the driver does not allow during capture; run it without graph capture)", c);
      }
      throw e;
    }
    gpu.endCapture();
    allocator.endCapture(pool);
    return new CudaStepGraph(gpu, graph, pool, recorded);
  }

  @Override
  public String toString() { return "CudaRuntime(" + gpu.device + ")"; }
}
