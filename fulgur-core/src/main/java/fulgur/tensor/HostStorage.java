package fulgur.tensor;

import java.lang.foreign.MemorySegment;

/** Storage in off-heap host memory, handed out and taken back by the {@link HostAllocator}. */
public final class HostStorage implements Storage {
    private final HostAllocator.Block block;
    private final MemorySegment segment;
    private volatile boolean released;
    private Scope owner;

    HostStorage(HostAllocator.Block block, long byteSize) {
        this.block = block;
        this.segment = block.segment().asSlice(0, byteSize);
    }

    /**
     * The memory, or an error naming {@code op} if it was already freed.
     *
     * @param op the operation to name in the error
     * @return the memory
     * @throws IllegalStateException when the storage was freed
     */
    public MemorySegment segment(String op) {
        if (released) {
            throw new IllegalStateException(op + ": use of a freed tensor (its scope was closed or it was released;"
                    + " a backward that frees activations releases each after its last use)");
        }
        return segment;
    }

    /**
     * {@return the memory}
     *
     * @throws IllegalStateException when the storage was freed
     */
    public MemorySegment segment() {
        return segment("access");
    }

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public long byteSize() {
        return segment.byteSize();
    }

    @Override
    public synchronized void release() {
        if (!released) {
            released = true;
            HostAllocator.free(block);
        }
    }

    @Override
    public boolean isReleased() {
        return released;
    }

    @Override
    public Scope owner() {
        return owner;
    }

    @Override
    public void setOwner(Scope scope) {
        this.owner = scope;
    }
}
