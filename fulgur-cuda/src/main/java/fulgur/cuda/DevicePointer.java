package fulgur.cuda;

/** Something with a device address that can be passed to a kernel as a pointer argument. */
public interface DevicePointer {
    /** {@return the device address} */
    long address();

    /**
     * A bare address (no ownership).
     *
     * @param address the device address
     * @return the pointer
     */
    static DevicePointer of(long address) {
        return new Raw(address);
    }

    /**
     * This pointer moved by {@code bytes}.
     *
     * @param bytes the offset
     * @return the moved pointer
     */
    default DevicePointer plus(long bytes) {
        return new Raw(address() + bytes);
    }

    /**
     * A bare address.
     *
     * @param address the device address
     */
    record Raw(long address) implements DevicePointer {}
}
