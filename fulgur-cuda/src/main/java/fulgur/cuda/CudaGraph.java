package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/**
 * A captured and instantiated CUDA graph. Capture records the work that {@code body} enqueues on
 * {@code stream} (allocate buffers before capture: the capture must not call cuMemAlloc).
 */
public final class CudaGraph implements AutoCloseable {
    private final MemorySegment graph, exec;
    private boolean closed;

    private CudaGraph(MemorySegment graph, MemorySegment exec) {
        this.graph = graph;
        this.exec = exec;
    }

    /**
     * Records the work {@code body} enqueues on {@code stream} as a graph (nothing runs while capturing).
     *
     * @param stream a stream from {@link CudaStream#create()}
     * @param body enqueues the work
     * @return the graph, instantiated, to close
     * @throws IllegalArgumentException for the legacy default stream
     * @throws fulgur.cuda.driver.CudaException when capture or instantiation fails
     */
    public static CudaGraph capture(CudaStream stream, Runnable body) {
        if (stream.id() == 0)
            throw new IllegalArgumentException("cannot capture the legacy default stream; use CudaStream.create()");
        CudaDriver d = CudaDriver.get();
        d.streamBeginCapture(stream.handle(), CudaDriver.CAPTURE_MODE_THREAD_LOCAL);
        MemorySegment g;
        try {
            body.run();
        } catch (RuntimeException | Error e) {
            try {
                MemorySegment broken = d.streamEndCapture(stream.handle());
                if (!broken.equals(MemorySegment.NULL)) d.graphDestroy(broken);
            } catch (RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        g = d.streamEndCapture(stream.handle());
        try {
            return new CudaGraph(g, d.graphInstantiate(g));
        } catch (RuntimeException e) {
            d.graphDestroy(g);
            throw e;
        }
    }

    /**
     * Replays the graph on {@code stream}.
     *
     * @param stream the stream
     * @throws IllegalStateException when the graph is closed
     */
    public void launch(CudaStream stream) {
        if (closed) throw new IllegalStateException("graph is closed");
        CudaDriver.get().graphLaunch(exec, stream.handle());
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            CudaDriver.get().graphExecDestroy(exec);
            CudaDriver.get().graphDestroy(graph);
        }
    }
}
