package fulgur.cuda;

/** Something with a device address that can be passed to a kernel as a pointer argument. */
public interface DevicePointer {
  long address();

  /** A bare address (no ownership). */
  static DevicePointer of(long address) {
    return new Raw(address);
  }

  /** This pointer moved by {@code bytes}. */
  default DevicePointer plus(long bytes) {
    return new Raw(address() + bytes);
  }

  record Raw(long address) implements DevicePointer {}
}
