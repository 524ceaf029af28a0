package fulgur.ops.lightning;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Small dense f32 tile products on heap arrays, vectorized along the output columns with fma.
 *
 * <p>Tiles are row-major with a leading dimension that is a multiple of {@link #L} (padded), so every vector access
 * is full width; the padding columns of an operand must hold finite values (scratch starts zeroed and kernels only
 * ever write finite values there). Callers pass padded column counts for outputs and true counts for contractions.
 * The triangular modes skip work that a causal block does not need.
 */
final class Tiles {

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    static final int L = S.length();

    /** Dense product. */
    static final int FULL = 0;
    /** Only outputs C[i][j] with j <= i are wanted (others may be left stale). */
    static final int LOWER_OUT = 1;
    /** A is lower triangular: A[i][p] = 0 for p > i. */
    static final int LOWER_IN = 2;
    /** A is upper triangular: A[i][p] = 0 for p < i. */
    static final int UPPER_IN = 3;

    private Tiles() {}

    /**
     * Eight rows a step (16 accumulators) where the machine has 32 vector registers (AVX-512), four (8) elsewhere: with
     * 8 accumulators the fma chain's latency, not the fma units, set the pace. An 8-row block runs the same fmas in
     * the same order on every output as two 4-row blocks; the zero entries a triangular A holds inside the wider
     * block add exact zeros.
     */
    static final boolean EIGHT_ROWS = L >= 16;

    static int pad(int n) {
        return (n + L - 1) / L * L;
    }

    /**
     * {@code C[0:m, 0:cols] (+)= A[0:m, 0:kk] · B[0:kk, 0:cols]}; {@code cols} a multiple of L. With
     * {@code accumulate} false, C is overwritten (except entries a triangular mode leaves out). A is read as stored
     * (row-major, {@code A[i][p] = a[i·lda + p]}).
     */
    static void mul(
            float[] a,
            int lda,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int m,
            int cols,
            int kk,
            int tri,
            boolean accumulate) {
        int i = 0;
        for (; EIGHT_ROWS && i + 8 <= m; i += 8) {
            int kLo = tri == UPPER_IN ? i : 0;
            int kHi = tri == LOWER_IN ? Math.min(kk, i + 8) : kk;
            int nHi = tri == LOWER_OUT ? Math.min(cols, pad(i + 8)) : cols;
            int j = 0;
            for (; j + 2 * L <= nHi; j += 2 * L) {
                block8x2(a, lda, b, ldb, c, ldc, i, j, kLo, kHi, accumulate);
            }
            for (; j < nHi; j += L) {
                block4x1(a, lda, b, ldb, c, ldc, i, j, kLo, kHi, accumulate);
                block4x1(a, lda, b, ldb, c, ldc, i + 4, j, kLo, kHi, accumulate);
            }
        }
        for (; i + 4 <= m; i += 4) {
            int kLo = tri == UPPER_IN ? i : 0;
            int kHi = tri == LOWER_IN ? Math.min(kk, i + 4) : kk;
            int nHi = tri == LOWER_OUT ? Math.min(cols, pad(i + 4)) : cols;
            int j = 0;
            for (; j + 2 * L <= nHi; j += 2 * L) {
                block4x2(a, lda, b, ldb, c, ldc, i, j, kLo, kHi, accumulate);
            }
            for (; j < nHi; j += L) {
                block4x1(a, lda, b, ldb, c, ldc, i, j, kLo, kHi, accumulate);
            }
        }
        for (; i < m; i++) {
            int kLo = tri == UPPER_IN ? i : 0;
            int kHi = tri == LOWER_IN ? Math.min(kk, i + 1) : kk;
            int nHi = tri == LOWER_OUT ? Math.min(cols, pad(i + 1)) : cols;
            for (int j = 0; j < nHi; j += L) {
                block1x1(a, lda, b, ldb, c, ldc, i, j, kLo, kHi, accumulate);
            }
        }
    }

    /**
     * {@code C (+)= Aᵀ · B} where {@code at} stores Aᵀ row-major: {@code A[i][p] = at[p·ldat + i]} (so A is m×kk and
     * at is kk×m). Spares an explicit transpose: the four A values a row block needs at each p are contiguous.
     * Triangular modes refer to the logical A (UPPER_IN: A[i][p] = 0 for p < i).
     */
    static void mulTransA(
            float[] at,
            int ldat,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int m,
            int cols,
            int kk,
            int tri,
            boolean accumulate) {
        if (tri == LOWER_OUT || tri == LOWER_IN) {
            throw new IllegalArgumentException("mulTransA supports FULL and UPPER_IN, got " + tri);
        }
        int i = 0;
        for (; EIGHT_ROWS && i + 8 <= m; i += 8) {
            int kLo = tri == UPPER_IN ? i : 0;
            int j = 0;
            for (; j + 2 * L <= cols; j += 2 * L) {
                block8x2T(at, ldat, b, ldb, c, ldc, i, j, kLo, kk, accumulate);
            }
            for (; j < cols; j += L) {
                block4x1T(at, ldat, b, ldb, c, ldc, i, j, kLo, kk, accumulate);
                block4x1T(at, ldat, b, ldb, c, ldc, i + 4, j, kLo, kk, accumulate);
            }
        }
        for (; i + 4 <= m; i += 4) {
            int kLo = tri == UPPER_IN ? i : 0;
            int j = 0;
            for (; j + 2 * L <= cols; j += 2 * L) {
                block4x2T(at, ldat, b, ldb, c, ldc, i, j, kLo, kk, accumulate);
            }
            for (; j < cols; j += L) {
                block4x1T(at, ldat, b, ldb, c, ldc, i, j, kLo, kk, accumulate);
            }
        }
        for (; i < m; i++) {
            int kLo = tri == UPPER_IN ? i : 0;
            for (int j = 0; j < cols; j += L) {
                FloatVector c0 = FloatVector.zero(S);
                for (int p = kLo; p < kk; p++) {
                    c0 = FloatVector.broadcast(S, at[p * ldat + i]).fma(FloatVector.fromArray(S, b, p * ldb + j), c0);
                }
                if (accumulate) {
                    c0 = c0.add(FloatVector.fromArray(S, c, i * ldc + j));
                }
                c0.intoArray(c, i * ldc + j);
            }
        }
    }

    private static void block8x2(
            float[] a,
            int lda,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        int a0 = i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        int a4 = a3 + lda, a5 = a4 + lda, a6 = a5 + lda, a7 = a6 + lda;
        for (int p = kLo; p < kHi; p++) {
            int bo = p * ldb + j;
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a[a4 + p]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a[a5 + p]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, a[a6 + p]);
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, a[a7 + p]);
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
        }
        int co = i * ldc + j;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(S, c, co));
            c01 = c01.add(FloatVector.fromArray(S, c, co + L));
            c10 = c10.add(FloatVector.fromArray(S, c, co + ldc));
            c11 = c11.add(FloatVector.fromArray(S, c, co + ldc + L));
            c20 = c20.add(FloatVector.fromArray(S, c, co + 2 * ldc));
            c21 = c21.add(FloatVector.fromArray(S, c, co + 2 * ldc + L));
            c30 = c30.add(FloatVector.fromArray(S, c, co + 3 * ldc));
            c31 = c31.add(FloatVector.fromArray(S, c, co + 3 * ldc + L));
            c40 = c40.add(FloatVector.fromArray(S, c, co + 4 * ldc));
            c41 = c41.add(FloatVector.fromArray(S, c, co + 4 * ldc + L));
            c50 = c50.add(FloatVector.fromArray(S, c, co + 5 * ldc));
            c51 = c51.add(FloatVector.fromArray(S, c, co + 5 * ldc + L));
            c60 = c60.add(FloatVector.fromArray(S, c, co + 6 * ldc));
            c61 = c61.add(FloatVector.fromArray(S, c, co + 6 * ldc + L));
            c70 = c70.add(FloatVector.fromArray(S, c, co + 7 * ldc));
            c71 = c71.add(FloatVector.fromArray(S, c, co + 7 * ldc + L));
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + L);
        c10.intoArray(c, co + ldc);
        c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc);
        c21.intoArray(c, co + 2 * ldc + L);
        c30.intoArray(c, co + 3 * ldc);
        c31.intoArray(c, co + 3 * ldc + L);
        c40.intoArray(c, co + 4 * ldc);
        c41.intoArray(c, co + 4 * ldc + L);
        c50.intoArray(c, co + 5 * ldc);
        c51.intoArray(c, co + 5 * ldc + L);
        c60.intoArray(c, co + 6 * ldc);
        c61.intoArray(c, co + 6 * ldc + L);
        c70.intoArray(c, co + 7 * ldc);
        c71.intoArray(c, co + 7 * ldc + L);
    }

    private static void block8x2T(
            float[] at,
            int ldat,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        FloatVector c40 = FloatVector.zero(S), c41 = FloatVector.zero(S);
        FloatVector c50 = FloatVector.zero(S), c51 = FloatVector.zero(S);
        FloatVector c60 = FloatVector.zero(S), c61 = FloatVector.zero(S);
        FloatVector c70 = FloatVector.zero(S), c71 = FloatVector.zero(S);
        for (int p = kLo; p < kHi; p++) {
            int bo = p * ldb + j;
            int ao = p * ldat + i;
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
            FloatVector x = FloatVector.broadcast(S, at[ao]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, at[ao + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, at[ao + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, at[ao + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, at[ao + 4]);
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, at[ao + 5]);
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            x = FloatVector.broadcast(S, at[ao + 6]);
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            x = FloatVector.broadcast(S, at[ao + 7]);
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
        }
        int co = i * ldc + j;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(S, c, co));
            c01 = c01.add(FloatVector.fromArray(S, c, co + L));
            c10 = c10.add(FloatVector.fromArray(S, c, co + ldc));
            c11 = c11.add(FloatVector.fromArray(S, c, co + ldc + L));
            c20 = c20.add(FloatVector.fromArray(S, c, co + 2 * ldc));
            c21 = c21.add(FloatVector.fromArray(S, c, co + 2 * ldc + L));
            c30 = c30.add(FloatVector.fromArray(S, c, co + 3 * ldc));
            c31 = c31.add(FloatVector.fromArray(S, c, co + 3 * ldc + L));
            c40 = c40.add(FloatVector.fromArray(S, c, co + 4 * ldc));
            c41 = c41.add(FloatVector.fromArray(S, c, co + 4 * ldc + L));
            c50 = c50.add(FloatVector.fromArray(S, c, co + 5 * ldc));
            c51 = c51.add(FloatVector.fromArray(S, c, co + 5 * ldc + L));
            c60 = c60.add(FloatVector.fromArray(S, c, co + 6 * ldc));
            c61 = c61.add(FloatVector.fromArray(S, c, co + 6 * ldc + L));
            c70 = c70.add(FloatVector.fromArray(S, c, co + 7 * ldc));
            c71 = c71.add(FloatVector.fromArray(S, c, co + 7 * ldc + L));
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + L);
        c10.intoArray(c, co + ldc);
        c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc);
        c21.intoArray(c, co + 2 * ldc + L);
        c30.intoArray(c, co + 3 * ldc);
        c31.intoArray(c, co + 3 * ldc + L);
        c40.intoArray(c, co + 4 * ldc);
        c41.intoArray(c, co + 4 * ldc + L);
        c50.intoArray(c, co + 5 * ldc);
        c51.intoArray(c, co + 5 * ldc + L);
        c60.intoArray(c, co + 6 * ldc);
        c61.intoArray(c, co + 6 * ldc + L);
        c70.intoArray(c, co + 7 * ldc);
        c71.intoArray(c, co + 7 * ldc + L);
    }

    private static void block4x2(
            float[] a,
            int lda,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        int a0 = i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        for (int p = kLo; p < kHi; p++) {
            int bo = p * ldb + j;
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
            FloatVector x = FloatVector.broadcast(S, a[a0 + p]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a[a1 + p]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a[a2 + p]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a[a3 + p]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
        }
        int co = i * ldc + j;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(S, c, co));
            c01 = c01.add(FloatVector.fromArray(S, c, co + L));
            c10 = c10.add(FloatVector.fromArray(S, c, co + ldc));
            c11 = c11.add(FloatVector.fromArray(S, c, co + ldc + L));
            c20 = c20.add(FloatVector.fromArray(S, c, co + 2 * ldc));
            c21 = c21.add(FloatVector.fromArray(S, c, co + 2 * ldc + L));
            c30 = c30.add(FloatVector.fromArray(S, c, co + 3 * ldc));
            c31 = c31.add(FloatVector.fromArray(S, c, co + 3 * ldc + L));
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + L);
        c10.intoArray(c, co + ldc);
        c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc);
        c21.intoArray(c, co + 2 * ldc + L);
        c30.intoArray(c, co + 3 * ldc);
        c31.intoArray(c, co + 3 * ldc + L);
    }

    private static void block4x2T(
            float[] at,
            int ldat,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c00 = FloatVector.zero(S), c01 = FloatVector.zero(S);
        FloatVector c10 = FloatVector.zero(S), c11 = FloatVector.zero(S);
        FloatVector c20 = FloatVector.zero(S), c21 = FloatVector.zero(S);
        FloatVector c30 = FloatVector.zero(S), c31 = FloatVector.zero(S);
        for (int p = kLo; p < kHi; p++) {
            int bo = p * ldb + j;
            int ao = p * ldat + i;
            FloatVector b0 = FloatVector.fromArray(S, b, bo);
            FloatVector b1 = FloatVector.fromArray(S, b, bo + L);
            FloatVector x = FloatVector.broadcast(S, at[ao]);
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, at[ao + 1]);
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, at[ao + 2]);
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, at[ao + 3]);
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
        }
        int co = i * ldc + j;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(S, c, co));
            c01 = c01.add(FloatVector.fromArray(S, c, co + L));
            c10 = c10.add(FloatVector.fromArray(S, c, co + ldc));
            c11 = c11.add(FloatVector.fromArray(S, c, co + ldc + L));
            c20 = c20.add(FloatVector.fromArray(S, c, co + 2 * ldc));
            c21 = c21.add(FloatVector.fromArray(S, c, co + 2 * ldc + L));
            c30 = c30.add(FloatVector.fromArray(S, c, co + 3 * ldc));
            c31 = c31.add(FloatVector.fromArray(S, c, co + 3 * ldc + L));
        }
        c00.intoArray(c, co);
        c01.intoArray(c, co + L);
        c10.intoArray(c, co + ldc);
        c11.intoArray(c, co + ldc + L);
        c20.intoArray(c, co + 2 * ldc);
        c21.intoArray(c, co + 2 * ldc + L);
        c30.intoArray(c, co + 3 * ldc);
        c31.intoArray(c, co + 3 * ldc + L);
    }

    private static void block4x1(
            float[] a,
            int lda,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S);
        FloatVector c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        int a0 = i * lda, a1 = a0 + lda, a2 = a1 + lda, a3 = a2 + lda;
        for (int p = kLo; p < kHi; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, p * ldb + j);
            c0 = FloatVector.broadcast(S, a[a0 + p]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, a[a1 + p]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, a[a2 + p]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, a[a3 + p]).fma(b0, c3);
        }
        int co = i * ldc + j;
        if (accumulate) {
            c0 = c0.add(FloatVector.fromArray(S, c, co));
            c1 = c1.add(FloatVector.fromArray(S, c, co + ldc));
            c2 = c2.add(FloatVector.fromArray(S, c, co + 2 * ldc));
            c3 = c3.add(FloatVector.fromArray(S, c, co + 3 * ldc));
        }
        c0.intoArray(c, co);
        c1.intoArray(c, co + ldc);
        c2.intoArray(c, co + 2 * ldc);
        c3.intoArray(c, co + 3 * ldc);
    }

    private static void block4x1T(
            float[] at,
            int ldat,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c0 = FloatVector.zero(S), c1 = FloatVector.zero(S);
        FloatVector c2 = FloatVector.zero(S), c3 = FloatVector.zero(S);
        for (int p = kLo; p < kHi; p++) {
            FloatVector b0 = FloatVector.fromArray(S, b, p * ldb + j);
            int ao = p * ldat + i;
            c0 = FloatVector.broadcast(S, at[ao]).fma(b0, c0);
            c1 = FloatVector.broadcast(S, at[ao + 1]).fma(b0, c1);
            c2 = FloatVector.broadcast(S, at[ao + 2]).fma(b0, c2);
            c3 = FloatVector.broadcast(S, at[ao + 3]).fma(b0, c3);
        }
        int co = i * ldc + j;
        if (accumulate) {
            c0 = c0.add(FloatVector.fromArray(S, c, co));
            c1 = c1.add(FloatVector.fromArray(S, c, co + ldc));
            c2 = c2.add(FloatVector.fromArray(S, c, co + 2 * ldc));
            c3 = c3.add(FloatVector.fromArray(S, c, co + 3 * ldc));
        }
        c0.intoArray(c, co);
        c1.intoArray(c, co + ldc);
        c2.intoArray(c, co + 2 * ldc);
        c3.intoArray(c, co + 3 * ldc);
    }

    private static void block1x1(
            float[] a,
            int lda,
            float[] b,
            int ldb,
            float[] c,
            int ldc,
            int i,
            int j,
            int kLo,
            int kHi,
            boolean accumulate) {
        FloatVector c0 = FloatVector.zero(S);
        int a0 = i * lda;
        for (int p = kLo; p < kHi; p++) {
            c0 = FloatVector.broadcast(S, a[a0 + p]).fma(FloatVector.fromArray(S, b, p * ldb + j), c0);
        }
        if (accumulate) {
            c0 = c0.add(FloatVector.fromArray(S, c, i * ldc + j));
        }
        c0.intoArray(c, i * ldc + j);
    }

    /**
     * Applies the causal decay mask in place to an n×n block score tile: {@code T[i][j] *= w[j − i + off]} for
     * {@code j <= i} and {@code T[i][j] = 0} above the diagonal (all padded columns of rows 0..n−1), where
     * {@code w[off − x] = scale·λ^x}. Entries up to the end of the diagonal's vector are read, the rest only written.
     */
    static void mask(float[] t, int ldt, int n, float[] w, int off) {
        FloatVector zero = FloatVector.zero(S);
        for (int i = 0; i < n; i++) {
            int row = i * ldt;
            int diagEnd = pad(i + 1);
            int base = off - i;
            for (int j = 0; j < diagEnd; j += L) {
                FloatVector.fromArray(S, t, row + j)
                        .mul(FloatVector.fromArray(S, w, base + j))
                        .intoArray(t, row + j);
            }
            for (int j = diagEnd; j < ldt; j += L) {
                zero.intoArray(t, row + j);
            }
        }
    }

    /** {@code dst[c][r] = src[r][c]} for r < rows, c < cols (dst leading dimension ldd). */
    static void transpose(float[] src, int lds, int rows, int cols, float[] dst, int ldd) {
        // 4×4 tiles: four contiguous reads and four contiguous writes of four values each
        int r = 0;
        for (; r + 4 <= rows; r += 4) {
            int s0 = r * lds, s1 = s0 + lds, s2 = s1 + lds, s3 = s2 + lds;
            int c = 0;
            for (; c + 4 <= cols; c += 4) {
                float a00 = src[s0 + c], a01 = src[s0 + c + 1], a02 = src[s0 + c + 2], a03 = src[s0 + c + 3];
                float a10 = src[s1 + c], a11 = src[s1 + c + 1], a12 = src[s1 + c + 2], a13 = src[s1 + c + 3];
                float a20 = src[s2 + c], a21 = src[s2 + c + 1], a22 = src[s2 + c + 2], a23 = src[s2 + c + 3];
                float a30 = src[s3 + c], a31 = src[s3 + c + 1], a32 = src[s3 + c + 2], a33 = src[s3 + c + 3];
                int d0 = c * ldd + r, d1 = d0 + ldd, d2 = d1 + ldd, d3 = d2 + ldd;
                dst[d0] = a00;
                dst[d0 + 1] = a10;
                dst[d0 + 2] = a20;
                dst[d0 + 3] = a30;
                dst[d1] = a01;
                dst[d1 + 1] = a11;
                dst[d1 + 2] = a21;
                dst[d1 + 3] = a31;
                dst[d2] = a02;
                dst[d2 + 1] = a12;
                dst[d2 + 2] = a22;
                dst[d2 + 3] = a32;
                dst[d3] = a03;
                dst[d3 + 1] = a13;
                dst[d3 + 2] = a23;
                dst[d3 + 3] = a33;
            }
            for (; c < cols; c++) {
                int d0 = c * ldd + r;
                dst[d0] = src[s0 + c];
                dst[d0 + 1] = src[s1 + c];
                dst[d0 + 2] = src[s2 + c];
                dst[d0 + 3] = src[s3 + c];
            }
        }
        for (; r < rows; r++) {
            int so = r * lds;
            for (int c = 0; c < cols; c++) {
                dst[c * ldd + r] = src[so + c];
            }
        }
    }

    /** {@code t[r][:] *= w[wOff + r·wStep]} over padded columns. */
    static void scaleRows(float[] t, int ldt, int rows, float[] w, int wOff, int wStep) {
        for (int r = 0; r < rows; r++) {
            FloatVector s = FloatVector.broadcast(S, w[wOff + r * wStep]);
            int ro = r * ldt;
            for (int j = 0; j < ldt; j += L) {
                FloatVector.fromArray(S, t, ro + j).mul(s).intoArray(t, ro + j);
            }
        }
    }

    /** {@code dst[r][:] = src[r][:] · w[wOff + r·wStep]} over padded columns. */
    static void scaleRowsInto(float[] src, float[] dst, int ld, int rows, float[] w, int wOff, int wStep) {
        for (int r = 0; r < rows; r++) {
            FloatVector s = FloatVector.broadcast(S, w[wOff + r * wStep]);
            int ro = r * ld;
            for (int j = 0; j < ld; j += L) {
                FloatVector.fromArray(S, src, ro + j).mul(s).intoArray(dst, ro + j);
            }
        }
    }

    /** {@code t[0:len] *= s}, len a multiple of L. */
    static void scale(float[] t, int len, float s) {
        FloatVector sv = FloatVector.broadcast(S, s);
        for (int j = 0; j < len; j += L) {
            FloatVector.fromArray(S, t, j).mul(sv).intoArray(t, j);
        }
    }

    /**
     * {@code t[0:len] *= (hi + lo)} where hi + lo is a decay factor split into its f32 value and the f32 rounding
     * remainder: {@code fma(t, hi, t·lo)} multiplies by the factor to ~2⁻⁴⁸, so repeated decays do not accumulate
     * the f32 rounding of λ (which, over thousands of steps with λ near 1, would be a systematic error).
     */
    static void scaleSplit(float[] t, int len, float hi, float lo) {
        FloatVector h = FloatVector.broadcast(S, hi);
        FloatVector l = FloatVector.broadcast(S, lo);
        for (int j = 0; j < len; j += L) {
            FloatVector x = FloatVector.fromArray(S, t, j);
            x.fma(h, x.mul(l)).intoArray(t, j);
        }
    }

    /** {@code dst[0:len] += src[0:len]}, len a multiple of L. */
    static void add(float[] src, float[] dst, int len) {
        for (int j = 0; j < len; j += L) {
            FloatVector.fromArray(S, dst, j)
                    .add(FloatVector.fromArray(S, src, j))
                    .intoArray(dst, j);
        }
    }
}
