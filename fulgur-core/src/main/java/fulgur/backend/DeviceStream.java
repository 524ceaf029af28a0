package fulgur.backend;

import java.lang.foreign.MemorySegment;

/**
 * A queue of device work (a CUDA stream), for native libraries that work on device memory in place and overlap
 * the backend's own work (NCCL's communication). From {@link DeviceRuntime#computeStream()} or
 * {@link DeviceRuntime#newStream()}.
 */
public interface DeviceStream extends AutoCloseable {

    /** The native handle (a {@code CUstream}) to pass to a native library. */
    MemorySegment handle();

    /** Waits until the work enqueued so far has finished. */
    void synchronize();

    /** Makes the work enqueued on this stream from now on wait for what {@code other} has enqueued so far. */
    void waitFor(DeviceStream other);

    /** A marker of the work enqueued so far, to poll. */
    Event record();

    /** Releases the stream (not the backend's compute stream, which stays). */
    @Override
    void close();

    /** A recorded point of a stream. */
    interface Event extends AutoCloseable {
        /** Whether the work before the point has finished. */
        boolean isDone();

        @Override
        void close();
    }

    /** Raw device memory of a device, freed in stream order on close ({@link DeviceRuntime#allocate}). */
    interface Memory extends AutoCloseable {
        long address();

        void copyFromHost(MemorySegment src, DeviceStream stream);

        void copyToHost(MemorySegment dst, DeviceStream stream);

        /** Fills the memory with a 32-bit word. */
        void fill32(int word, DeviceStream stream);

        @Override
        void close();
    }
}
