package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * A few rows against B stored n×k (x·Wᵀ for a small batch, AVX-512) computed as Cᵀ = B·Aᵀ: Aᵀ is packed once
 * (k × w, w = 32, 48 or 64 columns, those past m zero; small), and B's rows are broadcast where they lie, so B is
 * read once and never packed. Per step of depth a kernel broadcasts R values of B (R rows side by side) against the V
 * vectors of Aᵀ for R·V = 24 FMAs; a tile of R × w sums then goes to C transposed.
 *
 * <p>Each element of C is one chain of FMAs over the depth in order, whatever m is, so a row's result does not depend
 * on the rows computed beside it.
 */
final class SgemmRowsB {
    private SgemmRowsB() {}

    static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
    static final int L = S.length();
    /** Floats of the tile a kernel call fills. */
    static final int TILE = 24 * 16;
    /** The most rows of A (columns of Aᵀ) one pass takes. */
    static final int MAX_ROWS = 4 * 16;

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long FB = Float.BYTES;

    /** Vectors of Aᵀ per step for m rows of A (m ≤ {@link #MAX_ROWS}): 2, 3 or 4. */
    static int vectors(int m) {
        return Math.max(2, (m + L - 1) / L);
    }

    /** Rows of B per kernel call with {@code v} vectors of Aᵀ. */
    static int rowsOfB(int v) {
        return 24 / v;
    }

    /**
     * Aᵀ (k × v·16, the columns past m zero) into {@code at}. A stored m×k goes through 16×16 register transposes (a
     * scalar transpose of 64 rows × 768 took 50 µs, a twentieth of the product it feeds); A stored k×m is copied a row
     * of m at a time.
     */
    static void packAt(boolean transA, int m, int v, int k, MemorySegment a, long aOff, int lda, MemorySegment at) {
        int w = v * L;
        long wBytes = (long) w * FB;
        if (m < w) {
            at.asSlice(0, k * wBytes).fill((byte) 0);
        }
        if (transA) {
            for (int p = 0; p < k; p++) {
                MemorySegment.copy(a, (aOff + (long) p * lda) * FB, at, p * wBytes, m * FB);
            }
            return;
        }
        int mv = m / 16 * 16, kv = k / 16 * 16;
        long ldaBytes = (long) lda * FB;
        for (int i0 = 0; i0 < mv; i0 += 16) {
            for (int p0 = 0; p0 < kv; p0 += 16) {
                SgemmPack.transpose16(
                        a, (aOff + (long) i0 * lda + p0) * FB, ldaBytes, at, p0 * wBytes + i0 * FB, wBytes);
            }
        }
        // what the blocks left: the last k % 16 depths of the rows done, and every depth of the last m % 16 rows
        for (int i = 0; i < m; i++) {
            for (int p = i < mv ? kv : 0; p < k; p++) {
                at.set(F, p * wBytes + i * FB, a.get(F, (aOff + (long) i * lda + p) * FB));
            }
        }
    }

    /**
     * C[i, j] = alpha·Σ_p A[i, p]·B[j, p] + beta·C[i, j] for i &lt; m and j in [j0, j1), the tile from this thread's
     * {@link GemmScratch}. A last block of fewer than {@link #rowsOfB}(v) rows of B runs on a zero-padded copy of them,
     * so every element of C is the same chain of FMAs whichever kernel width and block it falls in.
     *
     * <p>The sums come out transposed (a row per row of B); they are gathered as Cᵀ for the whole range and written to
     * C by 16×16 register transposes at the end. Writing each tile into C one element at a time, a column of C at a
     * time, took a seventh of the time of 32–128 rows against a 3072 × 768 weight.
     */
    static void compute(
            int v,
            int m,
            int j0,
            int j1,
            int k,
            float alpha,
            MemorySegment at,
            MemorySegment b,
            long bOff,
            int ldb,
            float beta,
            MemorySegment c,
            long cOff,
            int ldc) {
        GemmScratch scratch = GemmScratch.get();
        float[] tile = scratch.tile(TILE);
        long ldbBytes = (long) ldb * FB;
        int r = rowsOfB(v);
        int w = v * L;
        long wBytes = (long) w * FB;
        MemorySegment ct = scratch.a((long) (j1 - j0) * wBytes);
        for (int j = j0; j < j1; j += r) {
            int cols = Math.min(r, j1 - j);
            MemorySegment src = b;
            long b0 = (bOff + (long) j * ldb) * FB;
            long stride = ldbBytes;
            if (cols < r) {
                src = scratch.b((long) r * k * FB);
                src.fill((byte) 0);
                for (int q = 0; q < cols; q++) {
                    MemorySegment.copy(b, b0 + q * ldbBytes, src, (long) q * k * FB, (long) k * FB);
                }
                b0 = 0;
                stride = (long) k * FB;
            }
            switch (v) {
                case 2 -> rows12(k, at, src, b0, stride, tile);
                case 3 -> rows8(k, at, src, b0, stride, tile);
                default -> rows6(k, at, src, b0, stride, tile);
            }
            for (int q = 0; q < cols; q++) {
                MemorySegment.copy(tile, q * w, ct, F, ((long) (j - j0) + q) * wBytes, w);
            }
        }
        storeTransposed(ct, w, m, j1 - j0, alpha, beta, c, cOff + j0, ldc);
    }

    /**
     * {@code C[i, jj] = alpha·Cᵀ[jj, i] + beta·C[i, jj]} for i &lt; m, jj &lt; cols ({@code ct}: rows of {@code w}
     * floats; C's corner at element {@code cOff}), 16×16 blocks through registers, the edges one element at a time.
     * Each element gets {@code alpha·x}, then {@code beta·C} added in one rounding, as {@code Math.fma} would.
     */
    static void storeTransposed(
            MemorySegment ct, int w, int m, int cols, float alpha, float beta, MemorySegment c, long cOff, int ldc) {
        long wBytes = (long) w * FB, ldcBytes = (long) ldc * FB;
        int mv = m / 16 * 16, cv = cols / 16 * 16;
        boolean plain = alpha == 1f && beta == 0f;
        MemorySegment block = plain ? null : GemmScratch.get().b(16 * 16 * FB);
        FloatVector vb = FloatVector.broadcast(S, beta);
        for (int i0 = 0; i0 < mv; i0 += 16) {
            for (int jj0 = 0; jj0 < cv; jj0 += 16) {
                long dst = (cOff + (long) i0 * ldc + jj0) * FB;
                long src = jj0 * wBytes + i0 * FB;
                if (plain) {
                    SgemmPack.transpose16(ct, src, wBytes, c, dst, ldcBytes);
                    continue;
                }
                SgemmPack.transpose16(ct, src, wBytes, block, 0, 16 * FB);
                for (int t = 0; t < 16; t++) {
                    FloatVector x = FloatVector.fromMemorySegment(S, block, t * 16 * FB, NATIVE)
                            .mul(alpha);
                    long o = dst + t * ldcBytes;
                    if (beta != 0f) {
                        x = FloatVector.fromMemorySegment(S, c, o, NATIVE).fma(vb, x);
                    }
                    x.intoMemorySegment(c, o, NATIVE);
                }
            }
        }
        // the edges: every column of the rows the blocks left, and the last columns of the rows they took
        for (int i = 0; i < m; i++) {
            long o = (cOff + (long) i * ldc) * FB;
            for (int jj = i < mv ? cv : 0; jj < cols; jj++) {
                float x = alpha * ct.get(F, jj * wBytes + i * FB);
                if (beta != 0f) {
                    x = Math.fma(beta, c.get(F, o + jj * FB), x);
                }
                c.set(F, o + jj * FB, x);
            }
        }
    }

    /** 12 rows of B × 2 vectors of Aᵀ. */
    private static void rows12(int k, MemorySegment at, MemorySegment b, long b0, long ldbBytes, float[] tile) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c0_0 = z, c0_1 = z;
        FloatVector c1_0 = z, c1_1 = z;
        FloatVector c2_0 = z, c2_1 = z;
        FloatVector c3_0 = z, c3_1 = z;
        FloatVector c4_0 = z, c4_1 = z;
        FloatVector c5_0 = z, c5_1 = z;
        FloatVector c6_0 = z, c6_1 = z;
        FloatVector c7_0 = z, c7_1 = z;
        FloatVector c8_0 = z, c8_1 = z;
        FloatVector c9_0 = z, c9_1 = z;
        FloatVector c10_0 = z, c10_1 = z;
        FloatVector c11_0 = z, c11_1 = z;
        long b1 = b0 + ldbBytes;
        long b2 = b1 + ldbBytes;
        long b3 = b2 + ldbBytes;
        long b4 = b3 + ldbBytes;
        long b5 = b4 + ldbBytes;
        long b6 = b5 + ldbBytes;
        long b7 = b6 + ldbBytes;
        long b8 = b7 + ldbBytes;
        long b9 = b8 + ldbBytes;
        long b10 = b9 + ldbBytes;
        long b11 = b10 + ldbBytes;
        long ai = 0;
        long bp = 0;
        for (int p = 0; p < k; p++, ai += 32 * FB, bp += FB) {
            FloatVector a0 = FloatVector.fromMemorySegment(S, at, ai, NATIVE);
            FloatVector a1 = FloatVector.fromMemorySegment(S, at, ai + 1 * L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, b.get(F, b0 + bp));
            c0_0 = x.fma(a0, c0_0);
            c0_1 = x.fma(a1, c0_1);
            x = FloatVector.broadcast(S, b.get(F, b1 + bp));
            c1_0 = x.fma(a0, c1_0);
            c1_1 = x.fma(a1, c1_1);
            x = FloatVector.broadcast(S, b.get(F, b2 + bp));
            c2_0 = x.fma(a0, c2_0);
            c2_1 = x.fma(a1, c2_1);
            x = FloatVector.broadcast(S, b.get(F, b3 + bp));
            c3_0 = x.fma(a0, c3_0);
            c3_1 = x.fma(a1, c3_1);
            x = FloatVector.broadcast(S, b.get(F, b4 + bp));
            c4_0 = x.fma(a0, c4_0);
            c4_1 = x.fma(a1, c4_1);
            x = FloatVector.broadcast(S, b.get(F, b5 + bp));
            c5_0 = x.fma(a0, c5_0);
            c5_1 = x.fma(a1, c5_1);
            x = FloatVector.broadcast(S, b.get(F, b6 + bp));
            c6_0 = x.fma(a0, c6_0);
            c6_1 = x.fma(a1, c6_1);
            x = FloatVector.broadcast(S, b.get(F, b7 + bp));
            c7_0 = x.fma(a0, c7_0);
            c7_1 = x.fma(a1, c7_1);
            x = FloatVector.broadcast(S, b.get(F, b8 + bp));
            c8_0 = x.fma(a0, c8_0);
            c8_1 = x.fma(a1, c8_1);
            x = FloatVector.broadcast(S, b.get(F, b9 + bp));
            c9_0 = x.fma(a0, c9_0);
            c9_1 = x.fma(a1, c9_1);
            x = FloatVector.broadcast(S, b.get(F, b10 + bp));
            c10_0 = x.fma(a0, c10_0);
            c10_1 = x.fma(a1, c10_1);
            x = FloatVector.broadcast(S, b.get(F, b11 + bp));
            c11_0 = x.fma(a0, c11_0);
            c11_1 = x.fma(a1, c11_1);
        }
        c0_0.intoArray(tile, 0);
        c0_1.intoArray(tile, 16);
        c1_0.intoArray(tile, 32);
        c1_1.intoArray(tile, 48);
        c2_0.intoArray(tile, 64);
        c2_1.intoArray(tile, 80);
        c3_0.intoArray(tile, 96);
        c3_1.intoArray(tile, 112);
        c4_0.intoArray(tile, 128);
        c4_1.intoArray(tile, 144);
        c5_0.intoArray(tile, 160);
        c5_1.intoArray(tile, 176);
        c6_0.intoArray(tile, 192);
        c6_1.intoArray(tile, 208);
        c7_0.intoArray(tile, 224);
        c7_1.intoArray(tile, 240);
        c8_0.intoArray(tile, 256);
        c8_1.intoArray(tile, 272);
        c9_0.intoArray(tile, 288);
        c9_1.intoArray(tile, 304);
        c10_0.intoArray(tile, 320);
        c10_1.intoArray(tile, 336);
        c11_0.intoArray(tile, 352);
        c11_1.intoArray(tile, 368);
    }

    /** 8 rows of B × 3 vectors of Aᵀ. */
    private static void rows8(int k, MemorySegment at, MemorySegment b, long b0, long ldbBytes, float[] tile) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c0_0 = z, c0_1 = z, c0_2 = z;
        FloatVector c1_0 = z, c1_1 = z, c1_2 = z;
        FloatVector c2_0 = z, c2_1 = z, c2_2 = z;
        FloatVector c3_0 = z, c3_1 = z, c3_2 = z;
        FloatVector c4_0 = z, c4_1 = z, c4_2 = z;
        FloatVector c5_0 = z, c5_1 = z, c5_2 = z;
        FloatVector c6_0 = z, c6_1 = z, c6_2 = z;
        FloatVector c7_0 = z, c7_1 = z, c7_2 = z;
        long b1 = b0 + ldbBytes;
        long b2 = b1 + ldbBytes;
        long b3 = b2 + ldbBytes;
        long b4 = b3 + ldbBytes;
        long b5 = b4 + ldbBytes;
        long b6 = b5 + ldbBytes;
        long b7 = b6 + ldbBytes;
        long ai = 0;
        long bp = 0;
        for (int p = 0; p < k; p++, ai += 48 * FB, bp += FB) {
            FloatVector a0 = FloatVector.fromMemorySegment(S, at, ai, NATIVE);
            FloatVector a1 = FloatVector.fromMemorySegment(S, at, ai + 1 * L * FB, NATIVE);
            FloatVector a2 = FloatVector.fromMemorySegment(S, at, ai + 2 * L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, b.get(F, b0 + bp));
            c0_0 = x.fma(a0, c0_0);
            c0_1 = x.fma(a1, c0_1);
            c0_2 = x.fma(a2, c0_2);
            x = FloatVector.broadcast(S, b.get(F, b1 + bp));
            c1_0 = x.fma(a0, c1_0);
            c1_1 = x.fma(a1, c1_1);
            c1_2 = x.fma(a2, c1_2);
            x = FloatVector.broadcast(S, b.get(F, b2 + bp));
            c2_0 = x.fma(a0, c2_0);
            c2_1 = x.fma(a1, c2_1);
            c2_2 = x.fma(a2, c2_2);
            x = FloatVector.broadcast(S, b.get(F, b3 + bp));
            c3_0 = x.fma(a0, c3_0);
            c3_1 = x.fma(a1, c3_1);
            c3_2 = x.fma(a2, c3_2);
            x = FloatVector.broadcast(S, b.get(F, b4 + bp));
            c4_0 = x.fma(a0, c4_0);
            c4_1 = x.fma(a1, c4_1);
            c4_2 = x.fma(a2, c4_2);
            x = FloatVector.broadcast(S, b.get(F, b5 + bp));
            c5_0 = x.fma(a0, c5_0);
            c5_1 = x.fma(a1, c5_1);
            c5_2 = x.fma(a2, c5_2);
            x = FloatVector.broadcast(S, b.get(F, b6 + bp));
            c6_0 = x.fma(a0, c6_0);
            c6_1 = x.fma(a1, c6_1);
            c6_2 = x.fma(a2, c6_2);
            x = FloatVector.broadcast(S, b.get(F, b7 + bp));
            c7_0 = x.fma(a0, c7_0);
            c7_1 = x.fma(a1, c7_1);
            c7_2 = x.fma(a2, c7_2);
        }
        c0_0.intoArray(tile, 0);
        c0_1.intoArray(tile, 16);
        c0_2.intoArray(tile, 32);
        c1_0.intoArray(tile, 48);
        c1_1.intoArray(tile, 64);
        c1_2.intoArray(tile, 80);
        c2_0.intoArray(tile, 96);
        c2_1.intoArray(tile, 112);
        c2_2.intoArray(tile, 128);
        c3_0.intoArray(tile, 144);
        c3_1.intoArray(tile, 160);
        c3_2.intoArray(tile, 176);
        c4_0.intoArray(tile, 192);
        c4_1.intoArray(tile, 208);
        c4_2.intoArray(tile, 224);
        c5_0.intoArray(tile, 240);
        c5_1.intoArray(tile, 256);
        c5_2.intoArray(tile, 272);
        c6_0.intoArray(tile, 288);
        c6_1.intoArray(tile, 304);
        c6_2.intoArray(tile, 320);
        c7_0.intoArray(tile, 336);
        c7_1.intoArray(tile, 352);
        c7_2.intoArray(tile, 368);
    }

    /** 6 rows of B × 4 vectors of Aᵀ. */
    private static void rows6(int k, MemorySegment at, MemorySegment b, long b0, long ldbBytes, float[] tile) {
        FloatVector z = FloatVector.zero(S);
        FloatVector c0_0 = z, c0_1 = z, c0_2 = z, c0_3 = z;
        FloatVector c1_0 = z, c1_1 = z, c1_2 = z, c1_3 = z;
        FloatVector c2_0 = z, c2_1 = z, c2_2 = z, c2_3 = z;
        FloatVector c3_0 = z, c3_1 = z, c3_2 = z, c3_3 = z;
        FloatVector c4_0 = z, c4_1 = z, c4_2 = z, c4_3 = z;
        FloatVector c5_0 = z, c5_1 = z, c5_2 = z, c5_3 = z;
        long b1 = b0 + ldbBytes;
        long b2 = b1 + ldbBytes;
        long b3 = b2 + ldbBytes;
        long b4 = b3 + ldbBytes;
        long b5 = b4 + ldbBytes;
        long ai = 0;
        long bp = 0;
        for (int p = 0; p < k; p++, ai += 64 * FB, bp += FB) {
            FloatVector a0 = FloatVector.fromMemorySegment(S, at, ai, NATIVE);
            FloatVector a1 = FloatVector.fromMemorySegment(S, at, ai + 1 * L * FB, NATIVE);
            FloatVector a2 = FloatVector.fromMemorySegment(S, at, ai + 2 * L * FB, NATIVE);
            FloatVector a3 = FloatVector.fromMemorySegment(S, at, ai + 3 * L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, b.get(F, b0 + bp));
            c0_0 = x.fma(a0, c0_0);
            c0_1 = x.fma(a1, c0_1);
            c0_2 = x.fma(a2, c0_2);
            c0_3 = x.fma(a3, c0_3);
            x = FloatVector.broadcast(S, b.get(F, b1 + bp));
            c1_0 = x.fma(a0, c1_0);
            c1_1 = x.fma(a1, c1_1);
            c1_2 = x.fma(a2, c1_2);
            c1_3 = x.fma(a3, c1_3);
            x = FloatVector.broadcast(S, b.get(F, b2 + bp));
            c2_0 = x.fma(a0, c2_0);
            c2_1 = x.fma(a1, c2_1);
            c2_2 = x.fma(a2, c2_2);
            c2_3 = x.fma(a3, c2_3);
            x = FloatVector.broadcast(S, b.get(F, b3 + bp));
            c3_0 = x.fma(a0, c3_0);
            c3_1 = x.fma(a1, c3_1);
            c3_2 = x.fma(a2, c3_2);
            c3_3 = x.fma(a3, c3_3);
            x = FloatVector.broadcast(S, b.get(F, b4 + bp));
            c4_0 = x.fma(a0, c4_0);
            c4_1 = x.fma(a1, c4_1);
            c4_2 = x.fma(a2, c4_2);
            c4_3 = x.fma(a3, c4_3);
            x = FloatVector.broadcast(S, b.get(F, b5 + bp));
            c5_0 = x.fma(a0, c5_0);
            c5_1 = x.fma(a1, c5_1);
            c5_2 = x.fma(a2, c5_2);
            c5_3 = x.fma(a3, c5_3);
        }
        c0_0.intoArray(tile, 0);
        c0_1.intoArray(tile, 16);
        c0_2.intoArray(tile, 32);
        c0_3.intoArray(tile, 48);
        c1_0.intoArray(tile, 64);
        c1_1.intoArray(tile, 80);
        c1_2.intoArray(tile, 96);
        c1_3.intoArray(tile, 112);
        c2_0.intoArray(tile, 128);
        c2_1.intoArray(tile, 144);
        c2_2.intoArray(tile, 160);
        c2_3.intoArray(tile, 176);
        c3_0.intoArray(tile, 192);
        c3_1.intoArray(tile, 208);
        c3_2.intoArray(tile, 224);
        c3_3.intoArray(tile, 240);
        c4_0.intoArray(tile, 256);
        c4_1.intoArray(tile, 272);
        c4_2.intoArray(tile, 288);
        c4_3.intoArray(tile, 304);
        c5_0.intoArray(tile, 320);
        c5_1.intoArray(tile, 336);
        c5_2.intoArray(tile, 352);
        c5_3.intoArray(tile, 368);
    }
}
