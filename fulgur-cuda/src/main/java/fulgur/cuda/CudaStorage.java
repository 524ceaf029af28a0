package fulgur.cuda;

import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Storage;

/**
 * Tensor storage in device memory: a {@link DeviceBuffer} from the device's {@link CachingAllocator}, handed back
 * to it (stream-ordered: work already enqueued on the backend's stream may still read it, later work on that stream
 * may reuse it) when its {@link Scope} closes or it is released.
 */
public final class CudaStorage implements Storage, DevicePointer {
    private final Device device;
    private final DeviceBuffer buffer;
    private volatile boolean released;
    private Scope owner;

    /**
     * Storage of {@code buffer} on {@code device}.
     *
     * @param device the CUDA device
     * @param buffer the memory
     */
    public CudaStorage(Device device, DeviceBuffer buffer) {
        this.device = device;
        this.buffer = buffer;
    }

    /**
     * The device address of the first byte, or an error naming {@code op} when the storage was freed.
     *
     * @param op the operation, for the error
     * @return the address
     * @throws IllegalStateException when the storage was freed
     */
    public long address(String op) {
        if (released) {
            throw new IllegalStateException(op + ": use of a freed tensor (its scope was closed or it was released;"
                    + " a backward that frees activations releases each after its last use)");
        }
        return buffer.address();
    }

    /** The device address, so collectives (NCCL) can work on tensors in place. */
    @Override
    public long address() {
        return address("device pointer");
    }

    @Override
    public Device device() {
        return device;
    }

    @Override
    public long byteSize() {
        return buffer.bytes();
    }

    @Override
    public synchronized void release() {
        if (!released) {
            released = true;
            buffer.close();
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
