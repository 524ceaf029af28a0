package fulgur.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A struct passed to a kernel by value (a parameter whose type name ends in {@code Desc}): its bytes in the
 * device's (little-endian) layout, written by the caller to match the CUDA declaration.
 *
 * @param bytes the struct's bytes, 1 to 4096
 */
public record KernelStruct(byte[] bytes) {
    /**
     * Checks the size.
     *
     * @throws IllegalArgumentException for an empty struct or one over 4096 bytes
     */
    public KernelStruct {
        if (bytes.length == 0 || bytes.length > 4096) {
            throw new IllegalArgumentException("kernel struct of " + bytes.length + " bytes (expected 1..4096)");
        }
    }

    /**
     * A little-endian buffer of {@code size} zero bytes to fill and then {@link #of(ByteBuffer)}.
     *
     * @param size the struct's size in bytes
     * @return the buffer
     */
    public static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /**
     * {@return a struct of the bytes of {@code b}'s backing array}
     *
     * @param b a buffer from {@link #buffer(int)}
     */
    public static KernelStruct of(ByteBuffer b) {
        return new KernelStruct(b.array());
    }
}
