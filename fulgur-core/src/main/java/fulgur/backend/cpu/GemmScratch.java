package fulgur.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Per-thread packing buffers of the GEMM kernels. Each thread owns one instance, grown on demand and then reused
 * by every later call on that thread, so steady-state GEMM calls allocate nothing. The segments come from an
 * automatic arena: a buffer that is outgrown is freed by the garbage collector once the thread drops it.
 * {@link #packedA} and {@link #packedB} hold the operands of a call that the calling thread shares with the pool's
 * workers (they only read them); {@link #a}, {@link #b} and {@link #tile} are the thread's own.
 */
final class GemmScratch {

    private static final long ALIGN = 64;
    private static final ThreadLocal<GemmScratch> LOCAL = ThreadLocal.withInitial(GemmScratch::new);

    private MemorySegment packedA = MemorySegment.NULL;
    private MemorySegment packedB = MemorySegment.NULL;
    private float[] partials = new float[0];
    private MemorySegment a = MemorySegment.NULL;
    private MemorySegment b = MemorySegment.NULL;
    private float[] tile = new float[0];

    private GemmScratch() {}

    static GemmScratch get() {
        return LOCAL.get();
    }

    /** A buffer of at least {@code bytes} bytes for op(A) packed for the whole pool. */
    MemorySegment packedA(long bytes) {
        if (packedA.byteSize() < bytes) {
            packedA = allocate(bytes);
        }
        return packedA;
    }

    /** A buffer of at least {@code bytes} bytes for op(B) packed for the whole pool. */
    MemorySegment packedB(long bytes) {
        if (packedB.byteSize() < bytes) {
            packedB = allocate(bytes);
        }
        return packedB;
    }

    /** A buffer of at least {@code bytes} bytes for this thread's packed panels of A. */
    MemorySegment a(long bytes) {
        if (a.byteSize() < bytes) {
            a = allocate(bytes);
        }
        return a;
    }

    /** A buffer of at least {@code bytes} bytes for this thread's packed panels of B. */
    MemorySegment b(long bytes) {
        if (b.byteSize() < bytes) {
            b = allocate(bytes);
        }
        return b;
    }

    /** An array of at least {@code floats} floats for the partial sums of a one-row product (the calling thread's). */
    float[] partials(int floats) {
        if (partials.length < floats) {
            partials = new float[floats];
        }
        return partials;
    }

    /** An array of at least {@code floats} floats for one micro-tile of C. */
    float[] tile(int floats) {
        if (tile.length < floats) {
            tile = new float[floats];
        }
        return tile;
    }

    private static MemorySegment allocate(long bytes) {
        // round up to whole 4 KiB pages so that small growth steps do not reallocate every time
        long rounded = (bytes + 4095) & ~4095L;
        return Arena.ofAuto().allocate(rounded, ALIGN);
    }
}
