package fulgur.backend;

import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The runtime of one device, beside its {@link Backend} kernels: memory statistics, deferred checks of device values,
 * graph capture, synchronisation, and the streams and raw memory that native libraries working on device memory in
 * place need (NCCL). Obtained with {@link Backends#runtime(Device)}; the CPU and CUDA modules implement it (through
 * their {@link BackendProvider}). Devices without streams (the CPU) throw {@link UnsupportedOperationException} from
 * the stream methods.
 */
public interface DeviceRuntime {

    Device device();

    /**
     * The most memory this device's tensors have held at once since the start (or the last {@link #resetPeakMemory()}),
     * in bytes: the device allocator's peak on a GPU, the host allocator's on the CPU.
     */
    long peakMemoryBytes();

    /** Starts a new peak for {@link #peakMemoryBytes()} from what is held now. */
    void resetPeakMemory();

    /**
     * Defers this device's checks of device values (index bounds of embeddings, cross-entropy targets, gathers) until
     * the returned scope closes, which waits for the device and throws the first failure: the work inside never waits
     * for the device. Nested scopes check when the outermost closes. The CPU checks at once ({@link DeferredChecks#NONE}).
     */
    DeferredChecks deferChecks();

    /**
     * Records the device work that {@code body} enqueues, without running it, as a graph that {@link StepGraph#replay()}
     * runs again with whatever the buffers it reads hold then. The body must not read device values on the host; host
     * data it uploads is recorded as a constant. Devices that cannot capture (the CPU) throw
     * {@link UnsupportedOperationException} naming the device.
     */
    StepGraph capture(Runnable body);

    /** One kernel's share of {@link #profile}: launches and device time in milliseconds. */
    record KernelTime(String name, int launches, double millis) {}

    /**
     * Runs {@code body} and returns the kernels launched on this device meanwhile (from any thread), each with its
     * launches and device time, the most time first: for benchmarks that show which kernels did the work. Work replayed
     * from a recorded graph is not seen. Devices that do not time kernels (the CPU) run body and return an empty list.
     */
    java.util.List<KernelTime> profile(Runnable body);

    /** Waits until the work enqueued on this device so far has finished (a no-op on the CPU). */
    void synchronize();

    /** Makes this device current on the calling thread (CUDA: binds its context) before native calls on it. */
    void makeCurrent();

    /** The stream the backend enqueues this device's work on. */
    DeviceStream computeStream();

    /** A new stream of this device, for work that overlaps the backend's. */
    DeviceStream newStream();

    /** Device memory of at least {@code bytes} bytes, enqueued for release on {@code stream} when closed. */
    DeviceStream.Memory allocate(long bytes, DeviceStream stream);

    /** The device address of the first element of {@code t}, a tensor of this device, to pass to a native library. */
    long address(Tensor t);
}
