package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;

/**
 * The row panels of a row-major A that a packed GEMM reads where they lie ({@link SgemmKernel#computeRows}): panel q's
 * first row starts at byte {@code byte0 + q·mr·ldaBytes} of {@code a}. Panels from {@code panels} on (a last one of
 * fewer rows than the kernel's) are packed.
 *
 * @param a        A's memory
 * @param byte0    byte of the first row of the chunk's first panel, at the depth of the block being computed
 * @param ldaBytes bytes between rows of A
 * @param panels   how many of the chunk's row panels are read in place
 */
record InPlaceA(MemorySegment a, long byte0, long ldaBytes, int panels) {

    /** The same panels {@code depth} values into their rows (the start of a kc block). */
    InPlaceA atDepth(int depth) {
        return new InPlaceA(a, byte0 + (long) depth * Float.BYTES, ldaBytes, panels);
    }
}
