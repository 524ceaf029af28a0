package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;
import java.lang.foreign.MemorySegment;

/**
 * Device memory from a {@link CachingAllocator}. {@link #close()} hands it back, stream-ordered: work
 * already enqueued on its stream may still use it, later work on that stream may reuse it.
 */
public final class DeviceBuffer implements DevicePointer, AutoCloseable {
    private final CachingAllocator owner;
    private final long address, bytes, capacity;
    private long streamId;
    private boolean closed;
    /** The graph pool this block belongs to (null: the shared cache). */
    CachingAllocator.GraphPool pool;

    DeviceBuffer(CachingAllocator owner, long address, long bytes, long capacity, long streamId) {
        this.owner = owner;
        this.address = address;
        this.bytes = bytes;
        this.capacity = capacity;
        this.streamId = streamId;
    }

    @Override
    public long address() {
        if (closed) throw new IllegalStateException("device buffer used after close");
        return address;
    }

    long rawAddress() {
        return address;
    }

    /**
     * Requested size in bytes.
     *
     * @return the bytes
     */
    public long bytes() {
        return bytes;
    }

    /**
     * Size of the block behind it (its size class).
     *
     * @return the bytes
     */
    public long capacity() {
        return capacity;
    }

    long streamId() {
        return streamId;
    }

    /**
     * Marks the stream that last uses this buffer (its release is ordered after that stream's work).
     *
     * @param stream the stream
     * @return this buffer
     */
    public DeviceBuffer useOn(CudaStream stream) {
        this.streamId = stream.id();
        return this;
    }

    /**
     * Copies {@code src} to the start of this buffer, synchronously.
     *
     * @param src host memory, at most {@link #bytes()} long
     * @throws IllegalArgumentException when {@code src} is larger than the buffer
     */
    public void copyFromHost(MemorySegment src) {
        check(src.byteSize());
        CudaDriver.get().memcpyHtoD(address(), src, src.byteSize());
    }

    /**
     * Copies the start of this buffer to {@code dst}, synchronously.
     *
     * @param dst host memory, at most {@link #bytes()} long
     * @throws IllegalArgumentException when {@code dst} is larger than the buffer
     */
    public void copyToHost(MemorySegment dst) {
        check(dst.byteSize());
        CudaDriver.get().memcpyDtoH(dst, address(), dst.byteSize());
    }

    /**
     * Copies {@code src} to the start of this buffer, ordered on {@code s} ({@code src} must stay valid until then).
     *
     * @param src host memory (pinned for a truly asynchronous copy), at most {@link #bytes()} long
     * @param s the stream
     * @throws IllegalArgumentException when {@code src} is larger than the buffer
     */
    public void copyFromHostAsync(MemorySegment src, CudaStream s) {
        check(src.byteSize());
        CudaDriver.get().memcpyHtoDAsync(address(), src, src.byteSize(), s.handle());
    }

    /**
     * Copies the start of this buffer to {@code dst}, ordered on {@code s}.
     *
     * @param dst host memory (pinned for a truly asynchronous copy), at most {@link #bytes()} long
     * @param s the stream
     * @throws IllegalArgumentException when {@code dst} is larger than the buffer
     */
    public void copyToHostAsync(MemorySegment dst, CudaStream s) {
        check(dst.byteSize());
        CudaDriver.get().memcpyDtoHAsync(dst, address(), dst.byteSize(), s.handle());
    }

    /**
     * Sets every 32-bit word (bytes must be a multiple of 4).
     *
     * @param word the value
     * @param s the stream
     */
    public void fill32(int word, CudaStream s) {
        CudaDriver.get().memsetD32Async(address(), word, bytes / 4, s.handle());
    }

    /**
     * Sets every 16-bit word.
     *
     * @param word the value
     * @param s the stream
     */
    public void fill16(short word, CudaStream s) {
        CudaDriver.get().memsetD16Async(address(), word, bytes / 2, s.handle());
    }

    private void check(long n) {
        if (n > bytes) throw new IllegalArgumentException("copy of " + n + " bytes into/out of a buffer of " + bytes);
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            owner.release(this);
        }
    }

    @Override
    public String toString() {
        return String.format("DeviceBuffer[0x%x, %d bytes]", address, bytes);
    }
}
