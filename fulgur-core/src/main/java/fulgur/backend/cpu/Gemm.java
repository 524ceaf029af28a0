package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Placeholder GEMM with the final contract (replaced by the blocked kernel). */
public final class Gemm {
    private Gemm() {}

    public static void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             float beta, MemorySegment c, long cOff, int ldc) {
        sgemmBatched(transA, transB, 1, m, n, k, alpha, a, aOff, lda, 0, b, bOff, ldb, 0, beta, c, cOff, ldc, 0);
    }

    public static void sgemmBatched(boolean transA, boolean transB, int batch, int m, int n, int k, float alpha,
                                    MemorySegment a, long aOff, int lda, long strideA, MemorySegment b, long bOff, int ldb, long strideB,
                                    float beta, MemorySegment c, long cOff, int ldc, long strideC) {
        Parallel.forRange(batch * m, 1, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int p = r / m;
                int i = r % m;
                for (int j = 0; j < n; j++) {
                    float acc = 0;
                    for (int q = 0; q < k; q++) {
                        float x = a.getAtIndex(ValueLayout.JAVA_FLOAT, aOff + p * strideA + (transA ? (long) q * lda + i : (long) i * lda + q));
                        float y = b.getAtIndex(ValueLayout.JAVA_FLOAT, bOff + p * strideB + (transB ? (long) j * ldb + q : (long) q * ldb + j));
                        acc += x * y;
                    }
                    long ci = cOff + p * strideC + (long) i * ldc + j;
                    float prev = beta == 0 ? 0 : beta * c.getAtIndex(ValueLayout.JAVA_FLOAT, ci);
                    c.setAtIndex(ValueLayout.JAVA_FLOAT, ci, alpha * acc + prev);
                }
            }
        });
    }

    public static void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha,
                             MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                             double beta, MemorySegment c, long cOff, int ldc) {
        dgemmBatched(transA, transB, 1, m, n, k, alpha, a, aOff, lda, 0, b, bOff, ldb, 0, beta, c, cOff, ldc, 0);
    }

    public static void dgemmBatched(boolean transA, boolean transB, int batch, int m, int n, int k, double alpha,
                                    MemorySegment a, long aOff, int lda, long strideA, MemorySegment b, long bOff, int ldb, long strideB,
                                    double beta, MemorySegment c, long cOff, int ldc, long strideC) {
        for (int p = 0; p < batch; p++) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    double acc = 0;
                    for (int q = 0; q < k; q++) {
                        double x = a.getAtIndex(ValueLayout.JAVA_DOUBLE, aOff + p * strideA + (transA ? (long) q * lda + i : (long) i * lda + q));
                        double y = b.getAtIndex(ValueLayout.JAVA_DOUBLE, bOff + p * strideB + (transB ? (long) j * ldb + q : (long) q * ldb + j));
                        acc += x * y;
                    }
                    long ci = cOff + p * strideC + (long) i * ldc + j;
                    double prev = beta == 0 ? 0 : beta * c.getAtIndex(ValueLayout.JAVA_DOUBLE, ci);
                    c.setAtIndex(ValueLayout.JAVA_DOUBLE, ci, alpha * acc + prev);
                }
            }
        }
    }
}
