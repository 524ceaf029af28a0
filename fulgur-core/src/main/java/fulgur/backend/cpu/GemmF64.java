package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f64 GEMM behind {@link Gemm#dgemm}. f64 serves gradient checks and reference results, not training, so this
 * is a plain blocked product rather than a twin of {@link GemmF32}: op(B) is copied row-major when it is stored
 * transposed, then four rows of C at a time accumulate {@code a[i,p]·B[p,:]} over p in vector lanes, so each row of
 * B read serves four rows of C. Every element is summed in the order p = 0, 1, …, k−1, whatever the thread count.
 */
final class GemmF64 {

    private static final VectorSpecies<Double> S = DoubleVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long DB = Double.BYTES;
    /** Rows of C per pass over B. */
    private static final int ROWS = 4;

    private GemmF64() {}

    /** One validated product (offsets and leading dims in elements); {@code parallel} allows the shared pool. */
    static void gemm(
            boolean parallel,
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
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    long at = (cOff + (long) i * ldc + j) * DB;
                    c.set(D, at, beta == 0 ? 0 : beta * c.get(D, at));
                }
            }
            return;
        }
        // op(B) row-major with rows n apart: B itself when it is stored k×n, else a transposed copy
        MemorySegment bRows = b;
        long bBase = bOff;
        long bLd = ldb;
        if (transB) {
            double[] t = new double[Math.multiplyExact(k, n)];
            for (int j = 0; j < n; j++) {
                long row = (bOff + (long) j * ldb) * DB;
                for (int p = 0; p < k; p++) {
                    t[p * n + j] = b.get(D, row + p * DB);
                }
            }
            bRows = MemorySegment.ofArray(t);
            bBase = 0;
            bLd = n;
        }
        MemorySegment bs = bRows;
        long b0 = bBase, ldB = bLd;
        int blocks = (m + ROWS - 1) / ROWS;
        Parallel.RangeTask rows = (s, e) -> {
            double[] acc = new double[ROWS * n];
            double[] x = new double[ROWS];
            for (int blk = s; blk < e; blk++) {
                int i0 = blk * ROWS, r = Math.min(ROWS, m - i0);
                java.util.Arrays.fill(acc, 0, r * n, 0);
                for (int p = 0; p < k; p++) {
                    for (int q = 0; q < r; q++) {
                        int i = i0 + q;
                        x[q] = a.get(D, (aOff + (transA ? (long) p * lda + i : (long) i * lda + p)) * DB);
                    }
                    accumulate(acc, x, r, n, bs, (b0 + p * ldB) * DB);
                }
                for (int q = 0; q < r; q++) {
                    long row = (cOff + (long) (i0 + q) * ldc) * DB;
                    for (int j = 0; j < n; j++) {
                        long at = row + j * DB;
                        double v = alpha * acc[q * n + j];
                        c.set(D, at, beta == 0 ? v : v + beta * c.get(D, at));
                    }
                }
            }
        };
        if (parallel && (long) m * n * k >= 1L << 18) {
            Parallel.forRange(blocks, 1, rows);
        } else {
            rows.run(0, blocks);
        }
    }

    /** {@code acc[q·n + j] += x[q]·B[j]} for q < r, B the row of n doubles at byte {@code bRow} of {@code b}. */
    private static void accumulate(double[] acc, double[] x, int r, int n, MemorySegment b, long bRow) {
        int nv = n / L * L;
        for (int q = 0; q < r; q++) {
            DoubleVector xv = DoubleVector.broadcast(S, x[q]);
            int base = q * n;
            for (int j = 0; j < nv; j += L) {
                DoubleVector bv = DoubleVector.fromMemorySegment(S, b, bRow + j * DB, NATIVE);
                xv.fma(bv, DoubleVector.fromArray(S, acc, base + j)).intoArray(acc, base + j);
            }
            for (int j = nv; j < n; j++) {
                acc[base + j] = Math.fma(x[q], b.get(D, bRow + j * DB), acc[base + j]);
            }
        }
    }

    /** {@code batch} validated products, spread over the pool one product per task when allowed. */
    static void gemmBatched(
            boolean parallel,
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
        Parallel.RangeTask each = (s, e) -> {
            for (int i = s; i < e; i++) {
                gemm(
                        false,
                        transA,
                        transB,
                        m,
                        n,
                        k,
                        alpha,
                        a,
                        aOff + i * strideA,
                        lda,
                        b,
                        bOff + i * strideB,
                        ldb,
                        beta,
                        c,
                        cOff + i * strideC,
                        ldc);
            }
        };
        if (parallel && batch > 1) {
            Parallel.forRange(batch, 1, each);
        } else if (batch == 1) {
            gemm(parallel, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        } else {
            each.run(0, batch);
        }
    }
}
