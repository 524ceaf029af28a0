package fulgur.cuda;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * A struct passed to a kernel by value (a parameter whose type name ends in {@code Desc}): its bytes in the
 * device's (little-endian) layout, written by the caller to match the CUDA declaration.
 */
public record KernelStruct(byte[] bytes) {
  public KernelStruct {
    if (bytes.length == 0 || bytes.length > 4096) {
      throw new IllegalArgumentException("kernel struct of " + bytes.length + " bytes (expected 1..4096)");
    }
  }

  /** A little-endian buffer of {@code size} zero bytes to fill and then {@link #of(ByteBuffer)}. */
  public static ByteBuffer buffer(int size) {
    return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
  }

  public static KernelStruct of(ByteBuffer b) {
    return new KernelStruct(b.array());
  }
}
