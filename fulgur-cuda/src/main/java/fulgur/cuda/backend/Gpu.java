package fulgur.cuda.backend;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStorage;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.driver.CudaDriver;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * What the CUDA backend's kernels share: the device's context, the backend's stream (every op is enqueued on it, so
 * stream order alone orders them and the caching allocator's reuse), kernels by name, allocation, pointers and the
 * device-side error flag through which kernels report invalid indices.
 */
public final class Gpu {
  public static final int THREADS = 256;

  public final Device device;
  public final CudaContext ctx;
  public final CudaStream stream;
  private final int sms;
  private final Map<String, Kernel> kernels = new ConcurrentHashMap<>();
  /** Fill every new tensor with 0xFF bytes (NaN in floating dtypes, -1 in integers): tests see unwritten elements. */
  public volatile boolean poison = Boolean.getBoolean("fulgur.cuda.poison");

  public Gpu(Device device) {
    this.device = device;
    this.ctx = CudaContext.get(device.index());
    this.stream = CudaStream.create();
    this.sms = ctx.device().multiprocessors();
  }

  public int multiprocessors() { return sms; }

  public void bind() { ctx.bind(); }

  public Kernel kernel(String file, String name) {
    return kernels.computeIfAbsent(file + "#" + name, k -> ctx.module(file, Map.of()).kernel(name));
  }

  /** Blocks for a grid-stride loop over n elements. */
  public int blocks(long n) {
    long b = (n + THREADS - 1) / THREADS;
    return (int) Math.max(1, Math.min(b, (long) sms * 32));
  }

  /** A grid-stride launch over n elements (no launch when n is 0). */
  public void launch(Kernel k, long n, Object... args) {
    if (n <= 0) return;
    k.launch(stream, blocks(n), 1, 1, THREADS, 0, args);
  }

  /** A launch with one block of {@code threads} per row (grid-stride over rows). */
  public void launchRows(Kernel k, long rows, int threads, Object... args) {
    if (rows <= 0) return;
    int grid = (int) Math.min(rows, (long) sms * 64);
    k.launch(stream, grid, 1, 1, threads, 0, args);
  }

  /** Threads per row-block for rows of {@code cols} elements: 32..1024, a multiple of 32. */
  public static int rowThreads(long cols) {
    long t = 32;
    while (t < cols && t < 256) t <<= 1;
    if (cols >= 8192) t = 512;
    if (cols >= 32768) t = 1024;
    return (int) t;
  }

  // ------------------------------------------------------------------ tensors

  public Tensor alloc(DType dtype, int[] shape) {
    Shape.check("empty", shape);
    long bytes = Math.multiplyExact(Shape.numel(shape), (long) dtype.byteSize());
    DeviceBuffer buf = ctx.allocate(bytes, stream);
    if (poison && bytes > 0) CudaDriver.get().memsetD8Async(buf.address(), (byte) 0xFF, bytes, stream.handle());
    return Tensor.wrap(new CudaStorage(device, buf), dtype, shape);
  }

  public Tensor zeros(DType dtype, int[] shape) {
    Tensor t = alloc(dtype, shape);
    long bytes = t.numel() * dtype.byteSize();
    if (bytes > 0) {
      long a = ptr(t, "zeros").address();
      fulgur.cuda.KernelProfiler.around("memset", stream, () -> CudaDriver.get().memsetD8Async(a, (byte) 0, bytes, stream.handle()));
    }
    return t;
  }

  public static boolean onCuda(Tensor t) { return t.device().kind() == Device.Kind.CUDA; }

  /** Checks that t lives on this device and was not freed. */
  public void check(String op, Tensor t) {
    if (!t.device().equals(device)) {
      throw new IllegalArgumentException(op + ": expected a tensor on " + device + ", got " + t.describe());
    }
    t.checkAlive(op);
  }

  /** The device address of t's first element. */
  public DevicePointer ptr(Tensor t, String op) {
    if (!(t.storage() instanceof CudaStorage cs)) {
      throw new IllegalArgumentException(op + ": expected a tensor on " + device + ", got " + t.describe());
    }
    return DevicePointer.of(cs.address(op) + t.offset() * t.dtype().byteSize());
  }

  public static int code(DType d) { return d.ordinal(); }

  /** t itself when contiguous, else a contiguous copy in the same dtype (on this device). */
  public Tensor contiguous(String op, Tensor t) {
    check(op, t);
    if (t.isContiguous()) return t;
    Tensor c = alloc(t.dtype(), t.shape());
    CudaCopy.deviceCopy(this, t, c);
    return c;
  }

  /** t when contiguous and of dtype, else a contiguous converted copy. */
  public Tensor contiguousAs(String op, Tensor t, DType dtype) {
    check(op, t);
    if (t.isContiguous() && t.dtype() == dtype) return t;
    Tensor c = alloc(dtype, t.shape());
    CudaCopy.deviceCopy(this, t, c);
    return c;
  }

  /** Frees a temporary made by {@link #contiguous} or {@link #contiguousAs} (not the caller's own tensor). */
  public static void freeTemp(Tensor tmp, Tensor original) {
    if (tmp != null && tmp != original && tmp.storage() != original.storage()) tmp.close();
  }

  /** Converts a freshly made result to dtype (no copy when equal; the old buffer is freed). */
  public Tensor convert(Tensor t, DType dtype) {
    if (t.dtype() == dtype) return t;
    Tensor out = alloc(dtype, t.shape());
    CudaCopy.deviceCopy(this, t, out);
    t.close();
    return out;
  }

  /** An integer index tensor, contiguous on this device (a CPU one is uploaded). */
  public Tensor index(String op, Tensor idx) {
    idx.checkAlive(op);
    if (idx.dtype() != DType.I32 && idx.dtype() != DType.I64) {
      throw new IllegalArgumentException(op + ": expected an integer (i32 or i64) index tensor, got " + idx.describe());
    }
    if (idx.device().kind() == Device.Kind.CPU) {
      Tensor d = alloc(idx.dtype(), idx.shape());
      CudaCopy.copy(this, idx, d);
      return d;
    }
    return contiguous(op, idx);
  }

  // ------------------------------------------------------------------ host transfers and the error flag

  public void synchronize() { stream.synchronize(); }

  /** Reads one long from device memory (synchronizes the stream). */
  public long readLong(DevicePointer p) {
    try (Arena a = Arena.ofConfined()) {
      MemorySegment h = a.allocate(8, 8);
      CudaDriver.get().memcpyDtoHAsync(h, p.address(), 8, stream.handle());
      stream.synchronize();
      return h.get(ValueLayout.JAVA_LONG, 0);
    }
  }

  /** The value of element {@code flat} (row-major) of an integer tensor on this device. */
  public long readIndex(Tensor idx, long flat) {
    long e = idx.storageIndex(flat);
    int es = idx.dtype().byteSize();
    CudaStorage cs = (CudaStorage) idx.storage();
    try (Arena a = Arena.ofConfined()) {
      MemorySegment h = a.allocate(8, 8);
      CudaDriver.get().memcpyDtoHAsync(h, cs.address("index") + e * es, es, stream.handle());
      stream.synchronize();
      return es == 4 ? h.get(ValueLayout.JAVA_INT, 0) : h.get(ValueLayout.JAVA_LONG, 0);
    }
  }

  /** A device flag that kernels lower to the first failing position; {@link #firstBad} reads it. */
  public DeviceBuffer errorFlag() {
    DeviceBuffer b = ctx.allocate(8, stream);
    CudaDriver.get().memsetD8Async(b.address(), (byte) 0x7F, 8, stream.handle());
    return b;
  }

  /** The first failing position recorded in the flag, or -1 (synchronizes; frees the flag). */
  public long firstBad(DeviceBuffer flag) {
    try {
      long v = readLong(flag);
      return v == 0x7F7F7F7F7F7F7F7FL ? -1 : v;
    } finally {
      flag.close();
    }
  }
}
