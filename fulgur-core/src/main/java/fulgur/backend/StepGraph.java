package fulgur.backend;

/**
 * Device work recorded once ({@link DeviceRuntime#capture}) and replayed in place: the same kernels on the same buffers,
 * each replay seeing what those buffers hold then. On CUDA this is a CUDA graph, which replaces the host's
 * per-launch work (autograd, allocation, argument checks, thousands of launches) by one graph launch.
 */
public interface StepGraph extends AutoCloseable {

    /** Runs the recorded work and waits for it; throws the first failed device-side check of the replay. */
    void replay();

    /** Device memory the graph holds (its private pool) in bytes. */
    long poolBytes();

    /** Frees the graph and its private memory pool (buffers still referenced outside stay valid until freed). */
    @Override
    void close();
}
