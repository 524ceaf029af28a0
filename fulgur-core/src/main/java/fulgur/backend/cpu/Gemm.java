package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;

/**
 * General matrix multiply on the CPU, BLAS style but row-major: {@code C[m×n] = alpha·op(A)·op(B) + beta·C}.
 *
 * <ul>
 *   <li>All matrices are row-major in {@link MemorySegment}s of native-order elements ({@code float} for the
 *       {@code s} routines, {@code double} for the {@code d} routines). Offsets, leading dimensions and batch
 *       strides are counted in elements, not bytes.</li>
 *   <li>op(A) is m×k: A is stored m×k (row stride {@code lda ≥ k}), or k×m when {@code transA}
 *       ({@code lda ≥ m}). op(B) is k×n: B is stored k×n ({@code ldb ≥ n}), or n×k when {@code transB}
 *       ({@code ldb ≥ k}). C is m×n with {@code ldc ≥ n}.</li>
 *   <li>{@code beta == 0} means C is only written, never read (it may hold NaN or garbage).
 *       {@code k == 0} or {@code alpha == 0} gives {@code C = beta·C} without reading A or B.</li>
 *   <li>C must not overlap A or B. Work is spread over the shared {@link Parallel} pool when it is large
 *       enough and every segment may be accessed from other threads (a segment of a confined arena makes
 *       the call run on the calling thread only).</li>
 * </ul>
 *
 * Bad arguments (negative sizes, leading dimensions smaller than a row, segments shorter than the described
 * matrices, overlapping outputs of a batch) raise {@link IllegalArgumentException} naming the routine.
 */
public final class Gemm {

    /** A never-started thread: a segment it may access is not confined to one thread. */
    private static final Thread PROBE = Thread.ofPlatform().unstarted(() -> {});

    private Gemm() {}

    /**
     * {@code C[m×n] = alpha·op(A)·op(B) + beta·C}; op(A) is m×k (A stored k×m when transA), op(B) is k×n
     * (B stored n×k when transB). beta==0 means C is not read (may hold NaN).
     */
    public static void sgemm(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            float alpha,
            MemorySegment a,
            long aOff,
            int lda,
            MemorySegment b,
            long bOff,
            int ldb,
            float beta,
            MemorySegment c,
            long cOff,
            int ldc) {
        check("sgemm", Float.BYTES, transA, transB, 1, m, n, k, a, aOff, lda, 0, b, bOff, ldb, 0, c, cOff, ldc, 0);
        GemmF32.gemm(
                shareable(a, b, c), transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /**
     * {@link #sgemm} over {@code batch} independent products: product {@code i} uses A at
     * {@code aOff + i·strideA}, B at {@code bOff + i·strideB} and C at {@code cOff + i·strideC} (element strides;
     * a stride of 0 broadcasts one A or B to every product). The C matrices must not overlap.
     */
    public static void sgemmBatched(
            boolean transA,
            boolean transB,
            int batch,
            int m,
            int n,
            int k,
            float alpha,
            MemorySegment a,
            long aOff,
            int lda,
            long strideA,
            MemorySegment b,
            long bOff,
            int ldb,
            long strideB,
            float beta,
            MemorySegment c,
            long cOff,
            int ldc,
            long strideC) {
        check(
                "sgemmBatched",
                Float.BYTES,
                transA,
                transB,
                batch,
                m,
                n,
                k,
                a,
                aOff,
                lda,
                strideA,
                b,
                bOff,
                ldb,
                strideB,
                c,
                cOff,
                ldc,
                strideC);
        GemmF32.gemmBatched(
                shareable(a, b, c),
                transA,
                transB,
                batch,
                m,
                n,
                k,
                alpha,
                a,
                aOff,
                lda,
                strideA,
                b,
                bOff,
                ldb,
                strideB,
                beta,
                c,
                cOff,
                ldc,
                strideC);
    }

    /** The f64 version of {@link #sgemm}, with the same contract. */
    public static void dgemm(
            boolean transA,
            boolean transB,
            int m,
            int n,
            int k,
            double alpha,
            MemorySegment a,
            long aOff,
            int lda,
            MemorySegment b,
            long bOff,
            int ldb,
            double beta,
            MemorySegment c,
            long cOff,
            int ldc) {
        check("dgemm", Double.BYTES, transA, transB, 1, m, n, k, a, aOff, lda, 0, b, bOff, ldb, 0, c, cOff, ldc, 0);
        GemmF64.gemm(
                shareable(a, b, c), transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
    }

    /** The f64 version of {@link #sgemmBatched}, with the same contract. */
    public static void dgemmBatched(
            boolean transA,
            boolean transB,
            int batch,
            int m,
            int n,
            int k,
            double alpha,
            MemorySegment a,
            long aOff,
            int lda,
            long strideA,
            MemorySegment b,
            long bOff,
            int ldb,
            long strideB,
            double beta,
            MemorySegment c,
            long cOff,
            int ldc,
            long strideC) {
        check(
                "dgemmBatched",
                Double.BYTES,
                transA,
                transB,
                batch,
                m,
                n,
                k,
                a,
                aOff,
                lda,
                strideA,
                b,
                bOff,
                ldb,
                strideB,
                c,
                cOff,
                ldc,
                strideC);
        GemmF64.gemmBatched(
                shareable(a, b, c),
                transA,
                transB,
                batch,
                m,
                n,
                k,
                alpha,
                a,
                aOff,
                lda,
                strideA,
                b,
                bOff,
                ldb,
                strideB,
                beta,
                c,
                cOff,
                ldc,
                strideC);
    }

    private static boolean shareable(MemorySegment a, MemorySegment b, MemorySegment c) {
        return a.isAccessibleBy(PROBE) && b.isAccessibleBy(PROBE) && c.isAccessibleBy(PROBE);
    }

    private static void check(
            String fn,
            int elemBytes,
            boolean transA,
            boolean transB,
            int batch,
            int m,
            int n,
            int k,
            MemorySegment a,
            long aOff,
            int lda,
            long strideA,
            MemorySegment b,
            long bOff,
            int ldb,
            long strideB,
            MemorySegment c,
            long cOff,
            int ldc,
            long strideC) {
        nonNegative(fn, "batch", batch);
        nonNegative(fn, "m", m);
        nonNegative(fn, "n", n);
        nonNegative(fn, "k", k);
        nonNegative(fn, "aOff", aOff);
        nonNegative(fn, "bOff", bOff);
        nonNegative(fn, "cOff", cOff);
        nonNegative(fn, "strideA", strideA);
        nonNegative(fn, "strideB", strideB);
        nonNegative(fn, "strideC", strideC);
        if (a == null || b == null || c == null) {
            throw new IllegalArgumentException(
                    fn + ": segment " + (a == null ? "a" : b == null ? "b" : "c") + " is null");
        }
        int aRows = transA ? k : m;
        int aCols = transA ? m : k;
        int bRows = transB ? n : k;
        int bCols = transB ? k : n;
        if (lda < aCols) {
            throw new IllegalArgumentException(fn + ": lda (" + lda + ") is smaller than a row of A (" + aCols
                    + (transA ? " = m, A is stored k×m since transA" : " = k, A is stored m×k") + ")");
        }
        if (ldb < bCols) {
            throw new IllegalArgumentException(fn + ": ldb (" + ldb + ") is smaller than a row of B (" + bCols
                    + (transB ? " = k, B is stored n×k since transB" : " = n, B is stored k×n") + ")");
        }
        if (ldc < n) {
            throw new IllegalArgumentException(fn + ": ldc (" + ldc + ") is smaller than a row of C (" + n + " = n)");
        }
        if (c.isReadOnly()) {
            throw new IllegalArgumentException(fn + ": segment c is read-only");
        }
        if (batch == 0) {
            return;
        }
        extent(fn, "a", "A", elemBytes, a, aOff, aRows, aCols, lda, batch, strideA);
        extent(fn, "b", "B", elemBytes, b, bOff, bRows, bCols, ldb, batch, strideB);
        extent(fn, "c", "C", elemBytes, c, cOff, m, n, ldc, batch, strideC);
        if (batch > 1 && m > 0 && n > 0) {
            long span = (long) (m - 1) * ldc + n;
            if (strideC < span) {
                throw new IllegalArgumentException(fn + ": strideC (" + strideC + ") makes the " + batch
                        + " C matrices overlap: each spans " + span + " elements ((m-1)·ldc + n)");
            }
        }
    }

    private static void extent(
            String fn,
            String seg,
            String matrix,
            int elemBytes,
            MemorySegment s,
            long off,
            int rows,
            int cols,
            int ld,
            int batch,
            long stride) {
        if (rows == 0 || cols == 0) {
            return;
        }
        long needed;
        try {
            long last = Math.addExact(off, Math.multiplyExact((long) batch - 1, stride));
            needed = Math.addExact(last, Math.addExact(Math.multiplyExact((long) rows - 1, ld), cols));
            Math.multiplyExact(needed, elemBytes);
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(fn + ": the extent of " + matrix + " overflows a long", e);
        }
        long held = s.byteSize() / elemBytes;
        if (held < needed) {
            String type = elemBytes == Float.BYTES ? "floats" : "doubles";
            throw new IllegalArgumentException(fn + ": segment " + seg + " is too short: " + matrix + " (" + rows + "×"
                    + cols + ", leading dim " + ld + ", offset " + off
                    + (batch > 1 ? ", " + batch + " matrices " + stride + " apart" : "")
                    + ") needs " + needed + " " + type + " but the segment holds " + held);
        }
    }

    private static void nonNegative(String fn, String name, long value) {
        if (value < 0) {
            throw new IllegalArgumentException(fn + ": " + name + " must be >= 0, got " + value);
        }
    }
}
