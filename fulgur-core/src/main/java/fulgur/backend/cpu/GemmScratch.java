package fulgur.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread packing buffers of the GEMM kernels. Each thread owns one instance, grown on demand and then reused
 * by every later call on that thread, so steady-state GEMM calls allocate nothing. The segments come from an
 * automatic arena: a buffer that is outgrown is freed by the garbage collector once the thread drops it.
 */
final class GemmScratch {

    private static final long ALIGN = 64;
    private static final ThreadLocal<GemmScratch> LOCAL = ThreadLocal.withInitial(GemmScratch::new);

    private MemorySegment a = MemorySegment.NULL;
    private MemorySegment b = MemorySegment.NULL;
    private MemorySegment tile = MemorySegment.NULL;

    private GemmScratch() {}

    static GemmScratch get() {
        return LOCAL.get();
    }

    /** A buffer of at least {@code bytes} bytes for packed panels of A. */
    MemorySegment a(long bytes) {
        if (a.byteSize() < bytes) {
            a = allocate(bytes);
        }
        return a;
    }

    /** A buffer of at least {@code bytes} bytes for packed panels of B. */
    MemorySegment b(long bytes) {
        if (b.byteSize() < bytes) {
            b = allocate(bytes);
        }
        return b;
    }

    /** A buffer of at least {@code bytes} bytes for one micro-tile of C at the matrix edges. */
    MemorySegment tile(long bytes) {
        if (tile.byteSize() < bytes) {
            tile = allocate(bytes);
        }
        return tile;
    }

    private static MemorySegment allocate(long bytes) {
        // round up to whole 4 KiB pages so that small growth steps do not reallocate every time
        long rounded = (bytes + 4095) & ~4095L;
        return Arena.ofAuto().allocate(rounded, ALIGN);
    }
}
