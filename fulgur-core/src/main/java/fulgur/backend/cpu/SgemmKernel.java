package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A register-blocked f32 micro-kernel of {@link GemmF32}: {@code tile[r·nr + j] = Σ_p A[p, r]·B[p, j]} for an
 * {@code mr×nr} block, A packed as {@code kc} groups of {@code mr} contiguous values, B read as {@code kc} rows of
 * {@code nr} contiguous values {@code bStride} bytes apart (a packed panel, or B where it lies). The accumulators
 * live in registers for the whole depth; the tile goes to a small per-thread array that the caller adds into C, so
 * the kernel itself is one short method that C2 compiles with every accumulator in a register.
 *
 * <p>Each subclass fixes its vector species in a static final field: the Vector API's intrinsics need the species
 * as a compile-time constant. Which one runs is chosen at start-up from the vector width ({@link #forMachine}).
 */
abstract class SgemmKernel {

    final int mr;
    final int nr;
    final int lanes;

    SgemmKernel(int mr, int vectors, VectorSpecies<Float> species) {
        this.mr = mr;
        this.lanes = species.length();
        this.nr = vectors * lanes;
    }

    /** Computes one micro-tile into {@code tile} (row stride {@link #nr}); reads nothing of C. */
    abstract void compute(
            int kc, MemorySegment ap, long aByte, MemorySegment b, long bByte, long bStride, float[] tile);

    /**
     * {@link #compute} with A read where it lies: row r of the micro-panel is {@code kc} contiguous values at byte
     * {@code aByte + r·ldaBytes} of {@code a} (A row-major, never packed). Same sums, in the same order, bit for bit:
     * the rows' values are broadcast straight from their cache lines, which a row of A fills for 16 steps of depth.
     */
    abstract void computeRows(
            int kc,
            MemorySegment a,
            long aByte,
            long ldaBytes,
            MemorySegment b,
            long bByte,
            long bStride,
            float[] tile);

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + mr + "×" + nr + ", " + lanes + " lanes]";
    }

    /**
     * The kernel for this machine: {@code 8×3} vectors of 16 lanes where the preferred vectors are 512 bits wide
     * (32 vector registers: 24 accumulators, 3 of B, 1 broadcast), else {@code 6×2} vectors (16 registers: 12
     * accumulators). {@code -Dfulgur.gemm.vectorBits=256} forces the narrower kernel (tests on an AVX-512 machine
     * use it; 512 on an AVX2 machine runs the wide kernel in the Vector API's slow Java fallback).
     */
    static SgemmKernel forMachine() {
        String bits = System.getProperty("fulgur.gemm.vectorBits");
        int width = FloatVector.SPECIES_PREFERRED.vectorBitSize();
        if (bits != null && !bits.isBlank()) {
            width = switch (bits.trim()) {
                case "128", "256" -> Math.min(width, Integer.parseInt(bits.trim()));
                case "512" -> 512;
                default ->
                    throw new IllegalArgumentException(
                            "fulgur.gemm.vectorBits must be 128, 256 or 512, got '" + bits + "'");
            };
        }
        return forVectorBits(width);
    }

    /** The kernel for vectors of {@code bits} bits. */
    static SgemmKernel forVectorBits(int bits) {
        return bits >= 512 ? SgemmKernel8x3.INSTANCE : SgemmKernel6x2.INSTANCE;
    }

    /** Every kernel, for tests: each runs on any machine (a species wider than the hardware's runs in Java). */
    static java.util.List<SgemmKernel> all() {
        return java.util.List.of(SgemmKernel8x3.INSTANCE, SgemmKernel6x2.INSTANCE);
    }
}
