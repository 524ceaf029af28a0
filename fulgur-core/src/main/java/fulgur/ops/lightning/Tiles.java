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

    static int pad(int n) {
        return (n + L - 1) / L * L;
    }

    /**
     * {@code C[0:m, 0:cols] (+)= A[0:m, 0:kk] · B[0:kk, 0:cols]}; {@code cols} a multiple of L. With
     * {@code accumulate} false, C is overwritten (except entries a triangular mode leaves out).
     */
    static void mul(float[] a, int lda, float[] b, int ldb, float[] c, int ldc, int m, int cols, int kk, int tri,
            boolean accumulate) {
        int i = 0;
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

    private static void block4x2(float[] a, int lda, float[] b, int ldb, float[] c, int ldc, int i, int j,
            int kLo, int kHi, boolean accumulate) {
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
        put(c, co, c00, accumulate);
        put(c, co + L, c01, accumulate);
        co += ldc;
        put(c, co, c10, accumulate);
        put(c, co + L, c11, accumulate);
        co += ldc;
        put(c, co, c20, accumulate);
        put(c, co + L, c21, accumulate);
        co += ldc;
        put(c, co, c30, accumulate);
        put(c, co + L, c31, accumulate);
    }

    private static void block4x1(float[] a, int lda, float[] b, int ldb, float[] c, int ldc, int i, int j,
            int kLo, int kHi, boolean accumulate) {
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
        put(c, co, c0, accumulate);
        put(c, co + ldc, c1, accumulate);
        put(c, co + 2 * ldc, c2, accumulate);
        put(c, co + 3 * ldc, c3, accumulate);
    }

    private static void block1x1(float[] a, int lda, float[] b, int ldb, float[] c, int ldc, int i, int j,
            int kLo, int kHi, boolean accumulate) {
        FloatVector c0 = FloatVector.zero(S);
        int a0 = i * lda;
        for (int p = kLo; p < kHi; p++) {
            c0 = FloatVector.broadcast(S, a[a0 + p]).fma(FloatVector.fromArray(S, b, p * ldb + j), c0);
        }
        put(c, i * ldc + j, c0, accumulate);
    }

    private static void put(float[] c, int off, FloatVector x, boolean accumulate) {
        if (accumulate) {
            x = x.add(FloatVector.fromArray(S, c, off));
        }
        x.intoArray(c, off);
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
                FloatVector.fromArray(S, t, row + j).mul(FloatVector.fromArray(S, w, base + j)).intoArray(t, row + j);
            }
            for (int j = diagEnd; j < ldt; j += L) {
                zero.intoArray(t, row + j);
            }
        }
    }

    /** {@code dst[c][r] = src[r][c]} for r < rows, c < cols (dst leading dimension ldd). */
    static void transpose(float[] src, int lds, int rows, int cols, float[] dst, int ldd) {
        for (int r = 0; r < rows; r++) {
            int so = r * lds;
            for (int c = 0; c < cols; c++) {
                dst[c * ldd + r] = src[so + c];
            }
        }
    }

    /** {@code dst[c][r] = src[r][c] · w[wOff + r]}: transpose scaling each source row. */
    static void transposeScaled(float[] src, int lds, int rows, int cols, float[] dst, int ldd, float[] w,
            int wOff, int wStep) {
        for (int r = 0; r < rows; r++) {
            int so = r * lds;
            float s = w[wOff + r * wStep];
            for (int c = 0; c < cols; c++) {
                dst[c * ldd + r] = src[so + c] * s;
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
            FloatVector.fromArray(S, dst, j).add(FloatVector.fromArray(S, src, j)).intoArray(dst, j);
        }
    }
}
