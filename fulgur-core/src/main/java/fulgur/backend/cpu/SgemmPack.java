package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Packing of the GEMM operands into the micro-panels that {@link SgemmKernel}s read. B stored n×k (a weight
 * [out, in] in {@code x·Wᵀ}) is transposed by square blocks in vector registers, 16×16 or 8×8 by the vector width,
 * and so is A stored m×k into the 8-row panels of the AVX-512 kernel: a scalar transpose costs as much as the
 * product itself when the other dimension is small (a layer of width 128, a product with few rows).
 */
final class SgemmPack {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Float> S16 = FloatVector.SPECIES_512;
    private static final VectorSpecies<Float> S8 = FloatVector.SPECIES_256;
    private static final int L = S.length();
    /** The transpose block this machine does in registers (16 or 8), or 0 for a scalar transpose. */
    static final int TRANSPOSE_LANES = L >= 16 ? 16 : L == 8 ? 8 : 0;

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfFloat FP = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long FB = Float.BYTES;
    private static final VectorShuffle<Float> LO16_8 = pairIndex(S16, 8, false);
    private static final VectorShuffle<Float> HI16_8 = pairIndex(S16, 8, true);
    private static final VectorShuffle<Float> LO16_4 = pairIndex(S16, 4, false);
    private static final VectorShuffle<Float> HI16_4 = pairIndex(S16, 4, true);
    private static final VectorShuffle<Float> LO16_2 = pairIndex(S16, 2, false);
    private static final VectorShuffle<Float> HI16_2 = pairIndex(S16, 2, true);
    private static final VectorShuffle<Float> LO16_1 = pairIndex(S16, 1, false);
    private static final VectorShuffle<Float> HI16_1 = pairIndex(S16, 1, true);
    private static final VectorShuffle<Float> LO8_4 = pairIndex(S8, 4, false);
    private static final VectorShuffle<Float> HI8_4 = pairIndex(S8, 4, true);
    private static final VectorShuffle<Float> LO8_2 = pairIndex(S8, 2, false);
    private static final VectorShuffle<Float> HI8_2 = pairIndex(S8, 2, true);
    private static final VectorShuffle<Float> LO8_1 = pairIndex(S8, 1, false);
    private static final VectorShuffle<Float> HI8_1 = pairIndex(S8, 1, true);

    private SgemmPack() {}

    /**
     * Packs op(A)[i0:i0+rows, p0:p0+kc] as one micro-panel at byte {@code dst} of {@code ap}: for each p, the
     * {@code mr} values of rows i0.. at column p, contiguously; rows past {@code rows} are zero.
     */
    static void packA(
            boolean transA,
            MemorySegment a,
            long aOff,
            int lda,
            int i0,
            int rows,
            int p0,
            int kc,
            int mr,
            MemorySegment ap,
            long dst) {
        long ldaBytes = (long) lda * FB;
        long stride = (long) mr * FB;
        if (rows < mr) {
            ap.asSlice(dst, kc * stride).fill((byte) 0);
        }
        boolean eight = mr == 8 && rows == 8 && TRANSPOSE_LANES > 0;
        if (!transA) {
            // A row-major m×k: row i is contiguous in p; whole 8×8 blocks go through registers
            long src = (aOff + (long) i0 * lda + p0) * FB;
            int pv = eight ? kc / 8 * 8 : 0;
            for (int p = 0; p < pv; p += 8) {
                transpose8(a, src + p * FB, ldaBytes, ap, dst + p * stride, stride);
            }
            for (int r = 0; r < rows; r++) {
                long s = src + r * ldaBytes;
                long d = dst + r * FB;
                for (int p = pv; p < kc; p++) {
                    ap.set(FP, d + p * stride, a.get(F, s + p * FB));
                }
            }
        } else if (eight) {
            // A stored k×m, eight contiguous values per p: one 256-bit copy each
            long src = (aOff + (long) p0 * lda + i0) * FB;
            for (int p = 0; p < kc; p++) {
                FloatVector.fromMemorySegment(S8, a, src + p * ldaBytes, NATIVE)
                        .intoMemorySegment(ap, dst + p * stride, NATIVE);
            }
        } else {
            // A stored k×m: op(A)[i, p] = A[p, i], so the values of one p are contiguous
            long src = (aOff + (long) p0 * lda + i0) * FB;
            for (int p = 0; p < kc; p++) {
                long s = src + p * ldaBytes;
                long d = dst + p * stride;
                for (int r = 0; r < rows; r++) {
                    ap.set(FP, d + r * FB, a.get(F, s + r * FB));
                }
            }
        }
    }

    /**
     * Packs op(B)[p0:p0+kc, j0:j0+cols] as one micro-panel at byte {@code dst} of {@code bp}: for each p, the
     * {@code nr} values of columns j0.. at row p, contiguously; columns past {@code cols} are zero.
     */
    static void packB(
            boolean transB,
            MemorySegment b,
            long bOff,
            int ldb,
            int p0,
            int kc,
            int j0,
            int cols,
            int nr,
            MemorySegment bp,
            long dst) {
        long ldbBytes = (long) ldb * FB;
        long stride = (long) nr * FB;
        if (cols < nr) {
            bp.asSlice(dst, kc * stride).fill((byte) 0);
        }
        if (!transB) {
            // B row-major k×n: row p is contiguous in j
            long src = (bOff + (long) p0 * ldb + j0) * FB;
            if (cols == nr && nr % L == 0) {
                for (int p = 0; p < kc; p++) {
                    long s = src + p * ldbBytes;
                    long d = dst + p * stride;
                    for (int j = 0; j < nr; j += L) {
                        FloatVector.fromMemorySegment(S, b, s + j * FB, NATIVE)
                                .intoMemorySegment(bp, d + j * FB, NATIVE);
                    }
                }
            } else {
                for (int p = 0; p < kc; p++) {
                    MemorySegment.copy(b, src + p * ldbBytes, bp, dst + p * stride, cols * FB);
                }
            }
        } else {
            // B stored n×k: op(B)[p, j] = B[j, p], column j of op(B) is contiguous in p
            long src = (bOff + (long) j0 * ldb + p0) * FB;
            int t = TRANSPOSE_LANES;
            int pv = 0;
            if (t > 0 && cols == nr && nr % t == 0) {
                // whole t×t blocks go through registers: t rows of B in, t rows of the panel out
                pv = kc / t * t;
                for (int jb = 0; jb < nr; jb += t) {
                    for (int p = 0; p < pv; p += t) {
                        long s = src + jb * ldbBytes + p * FB;
                        long d = dst + p * stride + jb * FB;
                        if (t == 16) {
                            transpose16(b, s, ldbBytes, bp, d, stride);
                        } else {
                            transpose8(b, s, ldbBytes, bp, d, stride);
                        }
                    }
                }
            }
            for (int j = 0; j < cols; j++) {
                long s = src + j * ldbBytes;
                long d = dst + j * FB;
                for (int p = pv; p < kc; p++) {
                    bp.set(FP, d + p * stride, b.get(F, s + p * FB));
                }
            }
        }
    }

    /** Transposes a 16×16 block: row t of the destination = column t of the source (rows src bytes apart). */
    static void transpose16(MemorySegment src, long s, long sStride, MemorySegment dst, long d, long dStride) {
        FloatVector v0 = FloatVector.fromMemorySegment(S16, src, s + 0 * sStride, NATIVE);
        FloatVector v1 = FloatVector.fromMemorySegment(S16, src, s + 1 * sStride, NATIVE);
        FloatVector v2 = FloatVector.fromMemorySegment(S16, src, s + 2 * sStride, NATIVE);
        FloatVector v3 = FloatVector.fromMemorySegment(S16, src, s + 3 * sStride, NATIVE);
        FloatVector v4 = FloatVector.fromMemorySegment(S16, src, s + 4 * sStride, NATIVE);
        FloatVector v5 = FloatVector.fromMemorySegment(S16, src, s + 5 * sStride, NATIVE);
        FloatVector v6 = FloatVector.fromMemorySegment(S16, src, s + 6 * sStride, NATIVE);
        FloatVector v7 = FloatVector.fromMemorySegment(S16, src, s + 7 * sStride, NATIVE);
        FloatVector v8 = FloatVector.fromMemorySegment(S16, src, s + 8 * sStride, NATIVE);
        FloatVector v9 = FloatVector.fromMemorySegment(S16, src, s + 9 * sStride, NATIVE);
        FloatVector v10 = FloatVector.fromMemorySegment(S16, src, s + 10 * sStride, NATIVE);
        FloatVector v11 = FloatVector.fromMemorySegment(S16, src, s + 11 * sStride, NATIVE);
        FloatVector v12 = FloatVector.fromMemorySegment(S16, src, s + 12 * sStride, NATIVE);
        FloatVector v13 = FloatVector.fromMemorySegment(S16, src, s + 13 * sStride, NATIVE);
        FloatVector v14 = FloatVector.fromMemorySegment(S16, src, s + 14 * sStride, NATIVE);
        FloatVector v15 = FloatVector.fromMemorySegment(S16, src, s + 15 * sStride, NATIVE);
        // pairs 8 apart swap their off-diagonal 8×8 blocks
        FloatVector w0 = v0.rearrange(LO16_8, v8);
        FloatVector w8 = v0.rearrange(HI16_8, v8);
        FloatVector w1 = v1.rearrange(LO16_8, v9);
        FloatVector w9 = v1.rearrange(HI16_8, v9);
        FloatVector w2 = v2.rearrange(LO16_8, v10);
        FloatVector w10 = v2.rearrange(HI16_8, v10);
        FloatVector w3 = v3.rearrange(LO16_8, v11);
        FloatVector w11 = v3.rearrange(HI16_8, v11);
        FloatVector w4 = v4.rearrange(LO16_8, v12);
        FloatVector w12 = v4.rearrange(HI16_8, v12);
        FloatVector w5 = v5.rearrange(LO16_8, v13);
        FloatVector w13 = v5.rearrange(HI16_8, v13);
        FloatVector w6 = v6.rearrange(LO16_8, v14);
        FloatVector w14 = v6.rearrange(HI16_8, v14);
        FloatVector w7 = v7.rearrange(LO16_8, v15);
        FloatVector w15 = v7.rearrange(HI16_8, v15);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        v8 = w8;
        v9 = w9;
        v10 = w10;
        v11 = w11;
        v12 = w12;
        v13 = w13;
        v14 = w14;
        v15 = w15;
        // pairs 4 apart swap their off-diagonal 4×4 blocks
        w0 = v0.rearrange(LO16_4, v4);
        w4 = v0.rearrange(HI16_4, v4);
        w1 = v1.rearrange(LO16_4, v5);
        w5 = v1.rearrange(HI16_4, v5);
        w2 = v2.rearrange(LO16_4, v6);
        w6 = v2.rearrange(HI16_4, v6);
        w3 = v3.rearrange(LO16_4, v7);
        w7 = v3.rearrange(HI16_4, v7);
        w8 = v8.rearrange(LO16_4, v12);
        w12 = v8.rearrange(HI16_4, v12);
        w9 = v9.rearrange(LO16_4, v13);
        w13 = v9.rearrange(HI16_4, v13);
        w10 = v10.rearrange(LO16_4, v14);
        w14 = v10.rearrange(HI16_4, v14);
        w11 = v11.rearrange(LO16_4, v15);
        w15 = v11.rearrange(HI16_4, v15);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        v8 = w8;
        v9 = w9;
        v10 = w10;
        v11 = w11;
        v12 = w12;
        v13 = w13;
        v14 = w14;
        v15 = w15;
        // pairs 2 apart swap their off-diagonal 2×2 blocks
        w0 = v0.rearrange(LO16_2, v2);
        w2 = v0.rearrange(HI16_2, v2);
        w1 = v1.rearrange(LO16_2, v3);
        w3 = v1.rearrange(HI16_2, v3);
        w4 = v4.rearrange(LO16_2, v6);
        w6 = v4.rearrange(HI16_2, v6);
        w5 = v5.rearrange(LO16_2, v7);
        w7 = v5.rearrange(HI16_2, v7);
        w8 = v8.rearrange(LO16_2, v10);
        w10 = v8.rearrange(HI16_2, v10);
        w9 = v9.rearrange(LO16_2, v11);
        w11 = v9.rearrange(HI16_2, v11);
        w12 = v12.rearrange(LO16_2, v14);
        w14 = v12.rearrange(HI16_2, v14);
        w13 = v13.rearrange(LO16_2, v15);
        w15 = v13.rearrange(HI16_2, v15);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        v8 = w8;
        v9 = w9;
        v10 = w10;
        v11 = w11;
        v12 = w12;
        v13 = w13;
        v14 = w14;
        v15 = w15;
        // pairs 1 apart swap their off-diagonal 1×1 blocks
        w0 = v0.rearrange(LO16_1, v1);
        w1 = v0.rearrange(HI16_1, v1);
        w2 = v2.rearrange(LO16_1, v3);
        w3 = v2.rearrange(HI16_1, v3);
        w4 = v4.rearrange(LO16_1, v5);
        w5 = v4.rearrange(HI16_1, v5);
        w6 = v6.rearrange(LO16_1, v7);
        w7 = v6.rearrange(HI16_1, v7);
        w8 = v8.rearrange(LO16_1, v9);
        w9 = v8.rearrange(HI16_1, v9);
        w10 = v10.rearrange(LO16_1, v11);
        w11 = v10.rearrange(HI16_1, v11);
        w12 = v12.rearrange(LO16_1, v13);
        w13 = v12.rearrange(HI16_1, v13);
        w14 = v14.rearrange(LO16_1, v15);
        w15 = v14.rearrange(HI16_1, v15);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        v8 = w8;
        v9 = w9;
        v10 = w10;
        v11 = w11;
        v12 = w12;
        v13 = w13;
        v14 = w14;
        v15 = w15;
        v0.intoMemorySegment(dst, d + 0 * dStride, NATIVE);
        v1.intoMemorySegment(dst, d + 1 * dStride, NATIVE);
        v2.intoMemorySegment(dst, d + 2 * dStride, NATIVE);
        v3.intoMemorySegment(dst, d + 3 * dStride, NATIVE);
        v4.intoMemorySegment(dst, d + 4 * dStride, NATIVE);
        v5.intoMemorySegment(dst, d + 5 * dStride, NATIVE);
        v6.intoMemorySegment(dst, d + 6 * dStride, NATIVE);
        v7.intoMemorySegment(dst, d + 7 * dStride, NATIVE);
        v8.intoMemorySegment(dst, d + 8 * dStride, NATIVE);
        v9.intoMemorySegment(dst, d + 9 * dStride, NATIVE);
        v10.intoMemorySegment(dst, d + 10 * dStride, NATIVE);
        v11.intoMemorySegment(dst, d + 11 * dStride, NATIVE);
        v12.intoMemorySegment(dst, d + 12 * dStride, NATIVE);
        v13.intoMemorySegment(dst, d + 13 * dStride, NATIVE);
        v14.intoMemorySegment(dst, d + 14 * dStride, NATIVE);
        v15.intoMemorySegment(dst, d + 15 * dStride, NATIVE);
    }

    /** Transposes a 8×8 block: row t of the destination = column t of the source (rows src bytes apart). */
    static void transpose8(MemorySegment src, long s, long sStride, MemorySegment dst, long d, long dStride) {
        FloatVector v0 = FloatVector.fromMemorySegment(S8, src, s + 0 * sStride, NATIVE);
        FloatVector v1 = FloatVector.fromMemorySegment(S8, src, s + 1 * sStride, NATIVE);
        FloatVector v2 = FloatVector.fromMemorySegment(S8, src, s + 2 * sStride, NATIVE);
        FloatVector v3 = FloatVector.fromMemorySegment(S8, src, s + 3 * sStride, NATIVE);
        FloatVector v4 = FloatVector.fromMemorySegment(S8, src, s + 4 * sStride, NATIVE);
        FloatVector v5 = FloatVector.fromMemorySegment(S8, src, s + 5 * sStride, NATIVE);
        FloatVector v6 = FloatVector.fromMemorySegment(S8, src, s + 6 * sStride, NATIVE);
        FloatVector v7 = FloatVector.fromMemorySegment(S8, src, s + 7 * sStride, NATIVE);
        // pairs 4 apart swap their off-diagonal 4×4 blocks
        FloatVector w0 = v0.rearrange(LO8_4, v4);
        FloatVector w4 = v0.rearrange(HI8_4, v4);
        FloatVector w1 = v1.rearrange(LO8_4, v5);
        FloatVector w5 = v1.rearrange(HI8_4, v5);
        FloatVector w2 = v2.rearrange(LO8_4, v6);
        FloatVector w6 = v2.rearrange(HI8_4, v6);
        FloatVector w3 = v3.rearrange(LO8_4, v7);
        FloatVector w7 = v3.rearrange(HI8_4, v7);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        // pairs 2 apart swap their off-diagonal 2×2 blocks
        w0 = v0.rearrange(LO8_2, v2);
        w2 = v0.rearrange(HI8_2, v2);
        w1 = v1.rearrange(LO8_2, v3);
        w3 = v1.rearrange(HI8_2, v3);
        w4 = v4.rearrange(LO8_2, v6);
        w6 = v4.rearrange(HI8_2, v6);
        w5 = v5.rearrange(LO8_2, v7);
        w7 = v5.rearrange(HI8_2, v7);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        // pairs 1 apart swap their off-diagonal 1×1 blocks
        w0 = v0.rearrange(LO8_1, v1);
        w1 = v0.rearrange(HI8_1, v1);
        w2 = v2.rearrange(LO8_1, v3);
        w3 = v2.rearrange(HI8_1, v3);
        w4 = v4.rearrange(LO8_1, v5);
        w5 = v4.rearrange(HI8_1, v5);
        w6 = v6.rearrange(LO8_1, v7);
        w7 = v6.rearrange(HI8_1, v7);
        v0 = w0;
        v1 = w1;
        v2 = w2;
        v3 = w3;
        v4 = w4;
        v5 = w5;
        v6 = w6;
        v7 = w7;
        v0.intoMemorySegment(dst, d + 0 * dStride, NATIVE);
        v1.intoMemorySegment(dst, d + 1 * dStride, NATIVE);
        v2.intoMemorySegment(dst, d + 2 * dStride, NATIVE);
        v3.intoMemorySegment(dst, d + 3 * dStride, NATIVE);
        v4.intoMemorySegment(dst, d + 4 * dStride, NATIVE);
        v5.intoMemorySegment(dst, d + 5 * dStride, NATIVE);
        v6.intoMemorySegment(dst, d + 6 * dStride, NATIVE);
        v7.intoMemorySegment(dst, d + 7 * dStride, NATIVE);
    }

    /**
     * The lane shuffle of one step of the transpose, for {@code x.rearrange(shuffle, y)} of rows x and y = x + h
     * (indexes at and past the vector length take from y): lane {@code c·2h + t} takes, in the low result,
     * {@code x[c·2h + t]} for t < h else {@code y[c·2h + t − h]}; in the high result {@code x[c·2h + h + t]} for
     * t < h else {@code y[c·2h + t]}. A shuffle, not {@code selectFrom} with a float index vector: the two-vector
     * {@code rearrange} compiles to permutes, the float-indexed {@code selectFrom} runs lane by lane in Java.
     */
    private static VectorShuffle<Float> pairIndex(VectorSpecies<Float> s, int h, boolean high) {
        int n = s.length();
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            int c = i / (2 * h), t = i % (2 * h);
            int base = c * 2 * h;
            idx[i] = high ? (t < h ? base + h + t : n + base + t) : (t < h ? base + t : n + base + t - h);
        }
        return VectorShuffle.fromArray(s, idx, 0);
    }
}
