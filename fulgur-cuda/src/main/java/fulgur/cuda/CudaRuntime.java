package fulgur.cuda;

import fulgur.backend.Capturing;
import fulgur.backend.DeferredChecks;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.DeviceStream;
import fulgur.backend.StepGraph;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.driver.CudaException;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The runtime of one CUDA device ({@link fulgur.backend.Backends#runtime}): the caching allocator's statistics, index
 * checks deferred to the end of a span, CUDA-graph capture of the work {@link CudaBackend} enqueues on its stream, and
 * streams, events and raw device memory for native libraries (NCCL).
 */
public final class CudaRuntime implements DeviceRuntime {
    private final Gpu gpu;

    CudaRuntime(CudaBackend backend) {
        this.gpu = backend.gpu();
    }

    @Override
    public Device device() {
        return gpu.device;
    }

    @Override
    public long peakMemoryBytes() {
        return gpu.ctx.allocator().report().peakInUseBytes();
    }

    @Override
    public void resetPeakMemory() {
        gpu.ctx.allocator().resetPeaks();
    }

    @Override
    public DeferredChecks deferChecks() {
        return gpu.deferChecks();
    }

    @Override
    public void synchronize() {
        gpu.synchronize();
    }

    /** Every launch bracketed by CUDA events ({@link KernelProfiler}) while body runs. */
    @Override
    public java.util.List<KernelTime> profile(Runnable body) {
        gpu.bind();
        gpu.synchronize();
        KernelProfiler.start();
        java.util.List<KernelProfiler.Entry> entries;
        try {
            body.run();
            gpu.bind();
            gpu.synchronize();
        } finally {
            entries = KernelProfiler.stop();
        }
        java.util.List<KernelTime> out = new java.util.ArrayList<>();
        for (KernelProfiler.Entry e : entries) out.add(new KernelTime(e.name(), e.launches(), e.millis()));
        return out;
    }

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
                throw new IllegalStateException(
                        "the step cannot be captured as a CUDA graph: " + c.getMessage()
                                + " (a call the driver does not allow during capture; run it without graph capture)",
                        c);
            }
            throw e;
        }
        gpu.endCapture();
        allocator.endCapture(pool);
        return new CudaStepGraph(gpu, graph, pool, recorded);
    }

    @Override
    public void makeCurrent() {
        gpu.bind();
    }

    @Override
    public DeviceStream computeStream() {
        return new Stream(gpu.stream, false);
    }

    @Override
    public DeviceStream newStream() {
        gpu.bind();
        return new Stream(CudaStream.create(), true);
    }

    @Override
    public DeviceStream.Memory allocate(long bytes, DeviceStream stream) {
        gpu.bind();
        DeviceBuffer b = gpu.ctx.allocate(bytes, cuda(stream));
        return new DeviceStream.Memory() {
            @Override
            public long address() {
                return b.address();
            }

            @Override
            public void copyFromHost(MemorySegment src, DeviceStream s) {
                b.copyFromHostAsync(src, cuda(s));
            }

            @Override
            public void copyToHost(MemorySegment dst, DeviceStream s) {
                b.copyToHostAsync(dst, cuda(s));
            }

            @Override
            public void fill32(int word, DeviceStream s) {
                b.fill32(word, cuda(s));
            }

            @Override
            public void close() {
                b.close();
            }
        };
    }

    @Override
    public long address(Tensor t) {
        return gpu.ptr(t, "address").address();
    }

    private static CudaStream cuda(DeviceStream s) {
        if (!(s instanceof Stream cs)) throw new IllegalArgumentException("not a CUDA stream of this runtime: " + s);
        return cs.stream;
    }

    /** A CUDA stream as a {@link DeviceStream}. */
    private record Stream(CudaStream stream, boolean owned) implements DeviceStream {
        @Override
        public MemorySegment handle() {
            return stream.handle();
        }

        @Override
        public void synchronize() {
            stream.synchronize();
        }

        @Override
        public void waitFor(DeviceStream other) {
            CudaStream o = cuda(other);
            if (o.id() == stream.id()) return;
            try (CudaEvent e = CudaEvent.create(false)) {
                e.record(o);
                stream.waitFor(e);
            }
        }

        @Override
        public Event record() {
            CudaEvent e = CudaEvent.create(false).record(stream);
            return new Event() {
                @Override
                public boolean isDone() {
                    return e.isDone();
                }

                @Override
                public void close() {
                    e.close();
                }
            };
        }

        @Override
        public void close() {
            if (owned) stream.close();
        }
    }

    @Override
    public String toString() {
        return "CudaRuntime(" + gpu.device + ")";
    }
}
