package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 GEMV kernel of {@link GemmF32}: one row x against the rows of B stored n×k (the {@code x·Wᵀ} of a linear
 * layer while decoding one token), bound by reading B from memory. Several rows of B are dotted with x at once, one
 * accumulator each, so that as many sequential streams are in flight as the registers allow: with the pages of B
 * 4 KiB apart in physical memory, one stream alone stalls where the hardware prefetcher stops at each page's end.
 *
 * <p>Every row is reduced the same way whichever block it falls in (lanes summed over the multiples of the vector
 * length, in {@link Lanes#sum}'s fixed order, then the last {@code k mod lanes} terms in order), so the result does
 * not depend on how the rows are split between threads. Each subclass fixes its vector species in a static final
 * field, as the Vector API's intrinsics need; {@link #matching} pairs one with each GEMM micro-kernel.
 */
abstract class SgemvKernel {

    static final long FB = Float.BYTES;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;

    /** Rows of B per block. */
    final int rows;

    final int lanes;

    SgemvKernel(int rows, VectorSpecies<Float> species) {
        this.rows = rows;
        this.lanes = species.length();
    }

    /**
     * {@code y[j] = alpha·Σ_p x[p]·B[j, p] + beta·y[j]} for {@code j} in {@code [j0, j1)} ({@code y} not read when
     * beta is 0): x is k contiguous floats at byte {@code xByte} of {@code x0}, row j of B starts at byte
     * {@code bByte + j·ldbBytes} of {@code b}, and {@code y[j]} is the float at byte {@code yByte + 4·j} of {@code y}.
     */
    abstract void dotRows(
            int k,
            MemorySegment x0,
            long xByte,
            MemorySegment b,
            long bByte,
            long ldbBytes,
            int j0,
            int j1,
            float alpha,
            float beta,
            MemorySegment y,
            long yByte);

    /** Adds the last {@code k − kv} terms of row {@code row} to its lane sum {@code d}; stores alpha·d (+ beta·y). */
    static void finish(
            float d,
            int k,
            int kv,
            MemorySegment x,
            long xByte,
            MemorySegment b,
            long row,
            float alpha,
            float beta,
            MemorySegment y,
            long yAt) {
        for (int p = kv; p < k; p++) {
            d = Math.fma(x.get(F, xByte + p * FB), b.get(F, row + p * FB), d);
        }
        float v = alpha * d;
        if (beta != 0f) {
            v = Math.fma(beta, y.get(F, yAt), v);
        }
        y.set(F, yAt, v);
    }

    /**
     * The lanes one step of the lane sums pairs: lane i with lane {@code i ^ h}, for {@code h = lanes/2, ..., 1}, as
     * {@link Lanes#sum} adds them (lane i and lane i + h, then within the lower half, ...). Each vector of partial sums
     * then holds every pair's sum twice, and {@link #fromB} keeps one copy from each of two vectors.
     */
    static int[] partner(int lanes, int h) {
        int[] idx = new int[lanes];
        for (int i = 0; i < lanes; i++) {
            idx[i] = i ^ h;
        }
        return idx;
    }

    /** The lanes of a step of the lane sums that come from the second of two vectors: those with bit h set. */
    static boolean[] fromB(int lanes, int h) {
        boolean[] b = new boolean[lanes];
        for (int i = 0; i < lanes; i++) {
            b[i] = (i & h) != 0;
        }
        return b;
    }

    @Override
    public String toString() {
        return getClass().getSimpleName() + "[" + rows + " rows, " + lanes + " lanes]";
    }

    /** The kernel of the same vector width as {@code kern} (so {@code -Dfulgur.gemm.vectorBits} picks both). */
    static SgemvKernel matching(SgemmKernel kern) {
        return kern.lanes >= 16 ? SgemvKernel16.INSTANCE : SgemvKernel8.INSTANCE;
    }

    /** Every kernel, for tests: each runs on any machine (a species wider than the hardware's runs in Java). */
    static java.util.List<SgemvKernel> all() {
        return java.util.List.of(SgemvKernel16.INSTANCE, SgemvKernel8.INSTANCE);
    }
}
