package fulgur.cuda;

import fulgur.backend.StepGraph;
import fulgur.cuda.backend.Gpu;

/** A step captured by {@link CudaBackend#capture}: the instantiated graph, its private memory pool and its check flags. */
final class CudaStepGraph implements StepGraph {
    private final Gpu gpu;
    private final CudaGraph graph;
    private final CachingAllocator.GraphPool pool;
    private final Gpu.Capture recorded;
    private boolean closed;

    CudaStepGraph(Gpu gpu, CudaGraph graph, CachingAllocator.GraphPool pool, Gpu.Capture recorded) {
        this.gpu = gpu;
        this.graph = graph;
        this.pool = pool;
        this.recorded = recorded;
    }

    @Override
    public void replay() {
        if (closed) throw new IllegalStateException("the captured step is closed");
        gpu.bind();
        graph.launch(gpu.stream);
        gpu.synchronize();
        recorded.verify();
    }

    @Override
    public long poolBytes() {
        return pool.bytes();
    }

    @Override
    public void close() {
        if (closed) return;
        closed = true;
        gpu.bind();
        gpu.synchronize();
        graph.close();
        recorded.close(); // its flag pages go back to the pool first
        gpu.ctx.allocator().releasePool(pool);
    }
}
