package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f64 GEMM engine behind {@link Gemm#dgemm}: the same Goto/BLIS blocking, packing and 6×(2 vectors)
 * register-blocked FMA micro-kernels as {@link GemmF32}, over doubles (see there for the loop structure).
 * It is the reference path for gradient checks: correct and fast, with blocking sized for doubles but not tuned
 * further. Arguments are validated by {@link Gemm}; nothing here checks them again.
 * (Generated from GemmF32 by substituting the element type; keep the two in step.)
 */
final class GemmF64 {

    /**
     * The machine's preferred vector shape; {@code -Dfulgur.dgemm.vectorBits=128|256|512} forces another (the code
     * is written for any lane count, and tests on an AVX2 machine use this to cover 4- and 16-lane shapes).
     */
    static final VectorSpecies<Double> S = species();
    static final int L = S.length();
    /** Rows of the micro-tile. */
    static final int MR = 6;
    /** Columns of the micro-tile: two vectors. */
    static final int NR = 2 * L;
    /* Cache blocking for doubles (half the elements per byte of the f32 sizes); system properties fulgur.dgemm.*. */
    static final int KC = Math.max(1, Integer.getInteger("fulgur.dgemm.kc", 256));
    static final int MC = Math.max(MR, Integer.getInteger("fulgur.dgemm.mc", 72) / MR * MR);
    static final int NC = Math.max(NR, Integer.getInteger("fulgur.dgemm.nc", 2048) / NR * NR);
    static final int NB = Math.max(NR, Integer.getInteger("fulgur.dgemm.nb", 128) / NR * NR);
    /**
     * Products with fewer multiply-adds than this (about 50 µs on one core) run on the calling thread only:
     * waking a pool thread costs more than it saves below that.
     */
    static final long PARALLEL_MIN_FMAS = 1L << 20;
    /** Largest B (elements) that fewer than MR rows still multiply in place, one pass over B per row. */
    static final long FEW_ROWS_MAX_B = 1L << 18;

    private static final ValueLayout.OfDouble F = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    /** Packed buffers are aligned, but the unaligned layout spares the kernel an alignment test per load. */
    private static final ValueLayout.OfDouble FP = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long FB = Double.BYTES;

    private GemmF64() {}

    private static VectorSpecies<Double> species() {
        String bits = System.getProperty("fulgur.dgemm.vectorBits");
        if (bits == null || bits.isBlank()) {
            return DoubleVector.SPECIES_PREFERRED;
        }
        return switch (bits.trim()) {
            case "128" -> DoubleVector.SPECIES_128;
            case "256" -> DoubleVector.SPECIES_256;
            case "512" -> DoubleVector.SPECIES_512;
            default -> throw new IllegalArgumentException("fulgur.dgemm.vectorBits must be 128, 256 or 512, got '" + bits + "'");
        };
    }

    /** One validated product; {@code parallel} allows the shared pool. Offsets and leading dims in elements. */
    static void gemm(boolean parallel, boolean transA, boolean transB, int m, int n, int k, double alpha,
                     MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                     double beta, MemorySegment c, long cOff, int ldc) {
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0.0) {
            scale(m, n, beta, c, cOff, ldc);
            return;
        }
        int threads = parallel ? Parallel.threads() : 1;
        if (m == 1 || (m < MR && (long) k * n <= FEW_ROWS_MAX_B)) {
            // one row (decoding, GEMV), or a few against a B that stays in cache: packing B would cost more than
            // the product, so read B in place (a few rows against a large B pack it: one pass over memory, not m)
            int chunks = ceilDiv(n, 4 * L);
            if (threads == 1 || (long) m * n * k < PARALLEL_MIN_FMAS || chunks < 2) {
                fewRows(transA, transB, m, 0, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            } else {
                Parallel.forRange(chunks, 1, (s, e) -> fewRows(transA, transB, m, s * 4 * L, Math.min(n, e * 4 * L), k,
                        alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc));
            }
            return;
        }
        if (threads == 1 || (long) m * n * k < PARALLEL_MIN_FMAS) {
            packed(false, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            return;
        }
        int rowPanels = ceilDiv(m, MR);
        int colPanels = ceilDiv(n, NR);
        if (rowPanels >= 4 * threads || rowPanels >= colPanels) {
            // split the rows of C; the packed B panel is shared by all threads
            packed(true, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        } else {
            // rather few rows but many columns: split the columns of C, each thread packs its own panels
            Parallel.forRange(colPanels, 1, (s, e) -> {
                int j0 = s * NR;
                int j1 = Math.min(n, e * NR);
                long bShift = transB ? (long) j0 * ldb : j0;
                packed(false, transA, transB, m, j1 - j0, k, alpha, a, aOff, lda, b, bOff + bShift, ldb,
                        beta, c, cOff + j0, ldc);
            });
        }
    }

    /** {@code batch} validated products; small ones are spread over the pool one product per task. */
    static void gemmBatched(boolean parallel, boolean transA, boolean transB, int batch, int m, int n, int k,
                            double alpha, MemorySegment a, long aOff, int lda, long strideA,
                            MemorySegment b, long bOff, int ldb, long strideB,
                            double beta, MemorySegment c, long cOff, int ldc, long strideC) {
        if (batch == 0 || m == 0 || n == 0) {
            return;
        }
        int threads = parallel ? Parallel.threads() : 1;
        long fmas = (long) m * n * Math.max(k, 1);
        if (batch == 1 || threads == 1) {
            for (int i = 0; i < batch; i++) {
                gemm(parallel, transA, transB, m, n, k, alpha, a, aOff + i * strideA, lda, b, bOff + i * strideB, ldb,
                        beta, c, cOff + i * strideC, ldc);
            }
            return;
        }
        if (fmas < 8 * PARALLEL_MIN_FMAS || batch >= 4 * threads) {
            int grain = (int) Math.max(1, Math.min(batch, PARALLEL_MIN_FMAS / fmas));
            Parallel.forRange(batch, grain, (s, e) -> {
                for (int i = s; i < e; i++) {
                    gemm(false, transA, transB, m, n, k, alpha, a, aOff + i * strideA, lda, b, bOff + i * strideB, ldb,
                            beta, c, cOff + i * strideC, ldc);
                }
            });
        } else {
            for (int i = 0; i < batch; i++) {
                gemm(true, transA, transB, m, n, k, alpha, a, aOff + i * strideA, lda, b, bOff + i * strideB, ldb,
                        beta, c, cOff + i * strideC, ldc);
            }
        }
    }

    /** The blocked, packed product; {@code share}: split the rows over the pool around a shared B panel. */
    private static void packed(boolean share, boolean transA, boolean transB, int m, int n, int k, double alpha,
                               MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                               double beta, MemorySegment c, long cOff, int ldc) {
        int kcb = balanced(k, KC, 1);
        int ncb = balanced(n, NC, NR);
        MemorySegment bp = GemmScratch.get().b((long) kcb * ncb * FB);
        // row blocks of at most about MC rows, as many as a multiple of the thread count, handed out one at a
        // time: a thread whose core is busy with something else simply takes fewer blocks
        int threads = Parallel.threads();
        int blocks = share ? ceilDiv(ceilDiv(m, MC), threads) * threads : 1;
        int mcb = share ? Math.min(ceilDiv(ceilDiv(m, blocks), MR) * MR, ceilDiv(m, MR) * MR) : m;
        int rowBlocks = ceilDiv(m, mcb);
        for (int jc = 0; jc < n; jc += ncb) {
            int nc = Math.min(ncb, n - jc);
            int bPanels = ceilDiv(nc, NR);
            for (int pc = 0; pc < k; pc += kcb) {
                int kc = Math.min(kcb, k - pc);
                int jc0 = jc;
                int pc0 = pc;
                if (share) {
                    Parallel.forRange(bPanels, 16, (s, e) -> packB(transB, b, bOff, ldb, pc0, kc, jc0, nc, bp, s, e));
                    AtomicInteger next = new AtomicInteger();
                    Parallel.forRange(threads, 1, (s, e) -> {
                        for (int blk; (blk = next.getAndIncrement()) < rowBlocks; ) {
                            macro(transA, a, aOff, lda, blk * mcb, Math.min(m, (blk + 1) * mcb), pc0, kc, jc0, nc, bp,
                                    alpha, beta, c, cOff, ldc);
                        }
                    });
                } else {
                    packB(transB, b, bOff, ldb, pc, kc, jc, nc, bp, 0, bPanels);
                    macro(transA, a, aOff, lda, 0, m, pc, kc, jc, nc, bp, alpha, beta, c, cOff, ldc);
                }
            }
        }
    }

    /**
     * Rows {@code [i0, i1)} of C against one packed B panel (block {@code pc} of k): pack A blocks, run the
     * micro-kernel over them.
     */
    private static void macro(boolean transA, MemorySegment a, long aOff, int lda, int i0, int i1, int pc, int kc,
                              int jc, int nc, MemorySegment bp, double alpha, double beta,
                              MemorySegment c, long cOff, int ldc) {
        if (i0 >= i1) {
            return;
        }
        GemmScratch scratch = GemmScratch.get();
        int mcb = balanced(i1 - i0, MC, MR);
        MemorySegment ap = scratch.a((long) mcb * kc * FB);
        MemorySegment tile = scratch.tile((long) MR * NR * FB);
        long ldcBytes = (long) ldc * FB;
        // beta is applied once, on the first block of k: C = beta·C first unless beta is 0 (C is then overwritten)
        boolean add = pc > 0 || beta != 0.0;
        for (int ic = i0; ic < i1; ic += mcb) {
            int mc = Math.min(mcb, i1 - ic);
            if (pc == 0 && beta != 0.0 && beta != 1.0) {
                scale(mc, nc, beta, c, cOff + (long) ic * ldc + jc, ldc);
            }
            packA(transA, a, aOff, lda, ic, mc, pc, kc, ap);
            for (int j2 = 0; j2 < nc; j2 += NB) {
                int j2end = Math.min(nc, j2 + NB);
                for (int ir = 0; ir < mc; ir += MR) {
                    int mr = Math.min(MR, mc - ir);
                    long aByte = (long) ir * kc * FB;
                    long cRow = (cOff + (long) (ic + ir) * ldc + jc) * FB;
                    for (int jr = j2; jr < j2end; jr += NR) {
                        int nr = Math.min(NR, nc - jr);
                        long bByte = (long) jr * kc * FB;
                        long cByte = cRow + jr * FB;
                        if (mr == MR && nr == NR) {
                            if (add) {
                                kernelAdd(kc, ap, aByte, bp, bByte, c, cByte, ldcBytes, alpha);
                            } else {
                                kernelSet(kc, ap, aByte, bp, bByte, c, cByte, ldcBytes, alpha);
                            }
                        } else {
                            kernelSet(kc, ap, aByte, bp, bByte, tile, 0, NR * FB, 1.0);
                            edge(tile, mr, nr, c, cByte, ldcBytes, alpha, add);
                        }
                    }
                }
            }
        }
    }

    /*
     * The micro-kernels: C[0:MR, 0:NR] = alpha·Σ_p Ap[p,0:MR]ᵀ·Bp[p,0:NR] (kernelSet, C not read) or C += that
     * (kernelAdd). Twelve accumulators, two B vectors and one broadcast A value fill the 16 vector registers of
     * AVX2. Each variant is its own small method on purpose: one method holding both exceeds what C1 can
     * register-allocate ("out of virtual registers"), and the kernel then never reaches C2 and its intrinsics.
     */

    static void kernelSet(int kc, MemorySegment ap, long aByte, MemorySegment bp, long bByte,
                          MemorySegment c, long cByte, long ldcBytes, double alpha) {
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        long aEnd = aByte + (long) kc * MR * FB;
        for (long ai = aByte, bi = bByte; ai < aEnd; ai += MR * FB, bi += NR * FB) {
            DoubleVector b0 = DoubleVector.fromMemorySegment(S, bp, bi, NATIVE);
            DoubleVector b1 = DoubleVector.fromMemorySegment(S, bp, bi + L * FB, NATIVE);
            DoubleVector x = DoubleVector.broadcast(S, ap.get(FP, ai));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + FB));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 2 * FB));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 3 * FB));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 4 * FB));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 5 * FB));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        long o = cByte;
        c00.mul(va).intoMemorySegment(c, o, NATIVE);
        c01.mul(va).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c10.mul(va).intoMemorySegment(c, o, NATIVE);
        c11.mul(va).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c20.mul(va).intoMemorySegment(c, o, NATIVE);
        c21.mul(va).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c30.mul(va).intoMemorySegment(c, o, NATIVE);
        c31.mul(va).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c40.mul(va).intoMemorySegment(c, o, NATIVE);
        c41.mul(va).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c50.mul(va).intoMemorySegment(c, o, NATIVE);
        c51.mul(va).intoMemorySegment(c, o + L * FB, NATIVE);
    }

    static void kernelAdd(int kc, MemorySegment ap, long aByte, MemorySegment bp, long bByte,
                          MemorySegment c, long cByte, long ldcBytes, double alpha) {
        DoubleVector c00 = DoubleVector.zero(S), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
                c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
        long aEnd = aByte + (long) kc * MR * FB;
        for (long ai = aByte, bi = bByte; ai < aEnd; ai += MR * FB, bi += NR * FB) {
            DoubleVector b0 = DoubleVector.fromMemorySegment(S, bp, bi, NATIVE);
            DoubleVector b1 = DoubleVector.fromMemorySegment(S, bp, bi + L * FB, NATIVE);
            DoubleVector x = DoubleVector.broadcast(S, ap.get(FP, ai));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + FB));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 2 * FB));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 3 * FB));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 4 * FB));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = DoubleVector.broadcast(S, ap.get(FP, ai + 5 * FB));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        long o = cByte;
        c00.fma(va, DoubleVector.fromMemorySegment(S, c, o, NATIVE)).intoMemorySegment(c, o, NATIVE);
        c01.fma(va, DoubleVector.fromMemorySegment(S, c, o + L * FB, NATIVE)).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c10.fma(va, DoubleVector.fromMemorySegment(S, c, o, NATIVE)).intoMemorySegment(c, o, NATIVE);
        c11.fma(va, DoubleVector.fromMemorySegment(S, c, o + L * FB, NATIVE)).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c20.fma(va, DoubleVector.fromMemorySegment(S, c, o, NATIVE)).intoMemorySegment(c, o, NATIVE);
        c21.fma(va, DoubleVector.fromMemorySegment(S, c, o + L * FB, NATIVE)).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c30.fma(va, DoubleVector.fromMemorySegment(S, c, o, NATIVE)).intoMemorySegment(c, o, NATIVE);
        c31.fma(va, DoubleVector.fromMemorySegment(S, c, o + L * FB, NATIVE)).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c40.fma(va, DoubleVector.fromMemorySegment(S, c, o, NATIVE)).intoMemorySegment(c, o, NATIVE);
        c41.fma(va, DoubleVector.fromMemorySegment(S, c, o + L * FB, NATIVE)).intoMemorySegment(c, o + L * FB, NATIVE);
        o += ldcBytes;
        c50.fma(va, DoubleVector.fromMemorySegment(S, c, o, NATIVE)).intoMemorySegment(c, o, NATIVE);
        c51.fma(va, DoubleVector.fromMemorySegment(S, c, o + L * FB, NATIVE)).intoMemorySegment(c, o + L * FB, NATIVE);
    }

    /** Writes the valid {@code mr×nr} corner of a micro-tile computed into {@code tile} (row stride NR) into C. */
    private static void edge(MemorySegment tile, int mr, int nr, MemorySegment c, long cByte, long ldcBytes,
                             double alpha, boolean add) {
        DoubleVector va = DoubleVector.broadcast(S, alpha);
        for (int r = 0; r < mr; r++) {
            long t = (long) r * NR * FB;
            long o = cByte + r * ldcBytes;
            int j = 0;
            for (; j + L <= nr; j += L) {
                DoubleVector v = DoubleVector.fromMemorySegment(S, tile, t + j * FB, NATIVE);
                v = add ? v.fma(va, DoubleVector.fromMemorySegment(S, c, o + j * FB, NATIVE)) : v.mul(va);
                v.intoMemorySegment(c, o + j * FB, NATIVE);
            }
            for (; j < nr; j++) {
                double v = alpha * tile.get(FP, t + j * FB);
                if (add) {
                    v += c.get(F, o + j * FB);
                }
                c.set(F, o + j * FB, v);
            }
        }
    }

    /**
     * Packs op(A)[i0:i0+mc, p0:p0+kc] into MR-tall micro-panels: panel q holds, for each p, the MR values of rows
     * i0+q·MR.. at column p, contiguously. Rows past mc are zero. (No data-dependent branches inside the loops:
     * a branch that the profile saw go one way only becomes a loop predicate in C2, and a predicate that then
     * fails on every call sends each call back to the interpreter.)
     */
    static void packA(boolean transA, MemorySegment a, long aOff, int lda, int i0, int mc, int p0, int kc,
                      MemorySegment ap) {
        long ldaBytes = (long) lda * FB;
        for (int ir = 0; ir < mc; ir += MR) {
            int mr = Math.min(MR, mc - ir);
            long dst = (long) ir * kc * FB;
            if (mr < MR) {
                ap.asSlice(dst, (long) kc * MR * FB).fill((byte) 0);
            }
            if (!transA) {
                // A row-major m×k: row i is contiguous in p
                long src = (aOff + (long) (i0 + ir) * lda + p0) * FB;
                if (mr == MR) {
                    long s1 = src + ldaBytes, s2 = s1 + ldaBytes, s3 = s2 + ldaBytes, s4 = s3 + ldaBytes, s5 = s4 + ldaBytes;
                    for (int p = 0; p < kc; p++) {
                        long d = dst + (long) p * MR * FB;
                        long o = (long) p * FB;
                        ap.set(FP, d, a.get(F, src + o));
                        ap.set(FP, d + FB, a.get(F, s1 + o));
                        ap.set(FP, d + 2 * FB, a.get(F, s2 + o));
                        ap.set(FP, d + 3 * FB, a.get(F, s3 + o));
                        ap.set(FP, d + 4 * FB, a.get(F, s4 + o));
                        ap.set(FP, d + 5 * FB, a.get(F, s5 + o));
                    }
                } else {
                    for (int r = 0; r < mr; r++) {
                        long s = src + r * ldaBytes;
                        long d = dst + r * FB;
                        for (int p = 0; p < kc; p++) {
                            ap.set(FP, d + (long) p * MR * FB, a.get(F, s + p * FB));
                        }
                    }
                }
            } else {
                // A stored k×m: op(A)[i, p] = A[p, i], so the MR values for one p are contiguous
                long src = (aOff + (long) p0 * lda + i0 + ir) * FB;
                if (mr == MR) {
                    for (int p = 0; p < kc; p++) {
                        long s = src + p * ldaBytes;
                        long d = dst + (long) p * MR * FB;
                        ap.set(FP, d, a.get(F, s));
                        ap.set(FP, d + FB, a.get(F, s + FB));
                        ap.set(FP, d + 2 * FB, a.get(F, s + 2 * FB));
                        ap.set(FP, d + 3 * FB, a.get(F, s + 3 * FB));
                        ap.set(FP, d + 4 * FB, a.get(F, s + 4 * FB));
                        ap.set(FP, d + 5 * FB, a.get(F, s + 5 * FB));
                    }
                } else {
                    for (int r = 0; r < mr; r++) {
                        long s = src + r * FB;
                        long d = dst + r * FB;
                        for (int p = 0; p < kc; p++) {
                            ap.set(FP, d + (long) p * MR * FB, a.get(F, s + p * ldaBytes));
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs micro-panels {@code [q0, q1)} of op(B)[p0:p0+kc, j0:j0+nc]: panel q holds, for each p, the NR values of
     * columns j0+q·NR.. at row p, contiguously. Columns past nc are zero.
     */
    static void packB(boolean transB, MemorySegment b, long bOff, int ldb, int p0, int kc, int j0, int nc,
                      MemorySegment bp, int q0, int q1) {
        long ldbBytes = (long) ldb * FB;
        for (int q = q0; q < q1; q++) {
            int jr = q * NR;
            int nr = Math.min(NR, nc - jr);
            long dst = (long) jr * kc * FB;
            if (nr < NR) {
                bp.asSlice(dst, (long) kc * NR * FB).fill((byte) 0);
            }
            if (!transB) {
                // B row-major k×n: row p is contiguous in j
                long src = (bOff + (long) p0 * ldb + j0 + jr) * FB;
                if (nr == NR) {
                    for (int p = 0; p < kc; p++) {
                        long s = src + p * ldbBytes;
                        long d = dst + (long) p * NR * FB;
                        DoubleVector.fromMemorySegment(S, b, s, NATIVE).intoMemorySegment(bp, d, NATIVE);
                        DoubleVector.fromMemorySegment(S, b, s + L * FB, NATIVE).intoMemorySegment(bp, d + L * FB, NATIVE);
                    }
                } else {
                    for (int j = 0; j < nr; j++) {
                        long s = src + j * FB;
                        long d = dst + j * FB;
                        for (int p = 0; p < kc; p++) {
                            bp.set(FP, d + (long) p * NR * FB, b.get(F, s + p * ldbBytes));
                        }
                    }
                }
            } else {
                // B stored n×k: op(B)[p, j] = B[j, p], column j of op(B) is contiguous in p
                for (int j = 0; j < nr; j++) {
                    long s = (bOff + (long) (j0 + jr + j) * ldb + p0) * FB;
                    long d = dst + j * FB;
                    for (int p = 0; p < kc; p++) {
                        bp.set(FP, d + (long) p * NR * FB, b.get(F, s + p * FB));
                    }
                }
            }
        }
    }

    /**
     * Columns {@code [j0, j1)} of C for a few rows, without packing B: each row of op(A) is copied to a
     * contiguous scratch row, then multiplied with B where it lies (rows of B scaled and summed when B is k×n,
     * dot products with the rows of B when B is stored n×k).
     */
    static void fewRows(boolean transA, boolean transB, int m, int j0, int j1, int k, double alpha,
                        MemorySegment a, long aOff, int lda, MemorySegment b, long bOff, int ldb,
                        double beta, MemorySegment c, long cOff, int ldc) {
        MemorySegment row = GemmScratch.get().a((long) k * FB);
        for (int i = 0; i < m; i++) {
            if (!transA) {
                MemorySegment.copy(a, (aOff + (long) i * lda) * FB, row, 0, (long) k * FB);
            } else {
                long src = (aOff + i) * FB;
                long step = (long) lda * FB;
                for (int p = 0; p < k; p++) {
                    row.set(FP, p * FB, a.get(F, src + p * step));
                }
            }
            long cRow = (cOff + (long) i * ldc) * FB;
            if (!transB) {
                rowTimesB(row, k, b, bOff * FB, (long) ldb * FB, j0, j1, alpha, beta, c, cRow);
            } else {
                rowDotB(row, k, b, bOff, ldb, j0, j1, alpha, beta, c, cRow);
            }
        }
    }

    /** C[row, j0:j1] = alpha·Σ_p row[p]·B[p, j0:j1] + beta·C[row, j0:j1], B row-major k×n read in place. */
    private static void rowTimesB(MemorySegment row, int k, MemorySegment b, long bByte, long ldbBytes, int j0, int j1,
                                  double alpha, double beta, MemorySegment c, long cRow) {
        int j = j0;
        for (; j + 4 * L <= j1; j += 4 * L) {
            DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            long o = bByte + j * FB;
            for (int p = 0; p < k; p++, o += ldbBytes) {
                DoubleVector x = DoubleVector.broadcast(S, row.get(FP, p * FB));
                s0 = x.fma(DoubleVector.fromMemorySegment(S, b, o, NATIVE), s0);
                s1 = x.fma(DoubleVector.fromMemorySegment(S, b, o + L * FB, NATIVE), s1);
                s2 = x.fma(DoubleVector.fromMemorySegment(S, b, o + 2 * L * FB, NATIVE), s2);
                s3 = x.fma(DoubleVector.fromMemorySegment(S, b, o + 3 * L * FB, NATIVE), s3);
            }
            long co = cRow + j * FB;
            storeVector(s0, alpha, beta, c, co);
            storeVector(s1, alpha, beta, c, co + L * FB);
            storeVector(s2, alpha, beta, c, co + 2 * L * FB);
            storeVector(s3, alpha, beta, c, co + 3 * L * FB);
        }
        for (; j + L <= j1; j += L) {
            DoubleVector s0 = DoubleVector.zero(S);
            long o = bByte + j * FB;
            for (int p = 0; p < k; p++, o += ldbBytes) {
                s0 = DoubleVector.broadcast(S, row.get(FP, p * FB)).fma(DoubleVector.fromMemorySegment(S, b, o, NATIVE), s0);
            }
            storeVector(s0, alpha, beta, c, cRow + j * FB);
        }
        for (; j < j1; j++) {
            double sum = 0.0;
            long o = bByte + j * FB;
            for (int p = 0; p < k; p++, o += ldbBytes) {
                sum = Math.fma(row.get(FP, p * FB), b.get(F, o), sum);
            }
            storeScalar(sum, alpha, beta, c, cRow + j * FB);
        }
    }

    /** C[row, j0:j1] = alpha·(row · B[j, :]) + beta·C[row, j] for each j, B stored n×k read in place. */
    private static void rowDotB(MemorySegment row, int k, MemorySegment b, long bOff, int ldb, int j0, int j1,
                                double alpha, double beta, MemorySegment c, long cRow) {
        long ldbBytes = (long) ldb * FB;
        int kv = k / L * L;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            long o0 = (bOff + (long) j * ldb) * FB, o1 = o0 + ldbBytes, o2 = o1 + ldbBytes, o3 = o2 + ldbBytes;
            DoubleVector s0 = DoubleVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int p = 0; p < kv; p += L) {
                long po = p * FB;
                DoubleVector x = DoubleVector.fromMemorySegment(S, row, po, NATIVE);
                s0 = x.fma(DoubleVector.fromMemorySegment(S, b, o0 + po, NATIVE), s0);
                s1 = x.fma(DoubleVector.fromMemorySegment(S, b, o1 + po, NATIVE), s1);
                s2 = x.fma(DoubleVector.fromMemorySegment(S, b, o2 + po, NATIVE), s2);
                s3 = x.fma(DoubleVector.fromMemorySegment(S, b, o3 + po, NATIVE), s3);
            }
            double d0 = Lanes.sum(s0), d1 = Lanes.sum(s1);
            double d2 = Lanes.sum(s2), d3 = Lanes.sum(s3);
            for (int p = kv; p < k; p++) {
                double x = row.get(FP, p * FB);
                d0 = Math.fma(x, b.get(F, o0 + p * FB), d0);
                d1 = Math.fma(x, b.get(F, o1 + p * FB), d1);
                d2 = Math.fma(x, b.get(F, o2 + p * FB), d2);
                d3 = Math.fma(x, b.get(F, o3 + p * FB), d3);
            }
            long co = cRow + j * FB;
            storeScalar(d0, alpha, beta, c, co);
            storeScalar(d1, alpha, beta, c, co + FB);
            storeScalar(d2, alpha, beta, c, co + 2 * FB);
            storeScalar(d3, alpha, beta, c, co + 3 * FB);
        }
        for (; j < j1; j++) {
            long o0 = (bOff + (long) j * ldb) * FB;
            DoubleVector s0 = DoubleVector.zero(S);
            for (int p = 0; p < kv; p += L) {
                s0 = DoubleVector.fromMemorySegment(S, row, p * FB, NATIVE)
                        .fma(DoubleVector.fromMemorySegment(S, b, o0 + p * FB, NATIVE), s0);
            }
            double d0 = Lanes.sum(s0);
            for (int p = kv; p < k; p++) {
                d0 = Math.fma(row.get(FP, p * FB), b.get(F, o0 + p * FB), d0);
            }
            storeScalar(d0, alpha, beta, c, cRow + j * FB);
        }
    }

    private static void storeVector(DoubleVector sum, double alpha, double beta, MemorySegment c, long o) {
        DoubleVector v = sum.mul(alpha);
        if (beta != 0.0) {
            v = DoubleVector.fromMemorySegment(S, c, o, NATIVE).fma(DoubleVector.broadcast(S, beta), v);
        }
        v.intoMemorySegment(c, o, NATIVE);
    }

    private static void storeScalar(double sum, double alpha, double beta, MemorySegment c, long o) {
        double v = alpha * sum;
        if (beta != 0.0) {
            v = Math.fma(beta, c.get(F, o), v);
        }
        c.set(F, o, v);
    }

    /** C = beta·C over an m×n block (C not read when beta == 0). */
    static void scale(int m, int n, double beta, MemorySegment c, long cOff, int ldc) {
        if (beta == 1.0) {
            return;
        }
        DoubleVector vb = DoubleVector.broadcast(S, beta);
        for (int i = 0; i < m; i++) {
            long row = (cOff + (long) i * ldc) * FB;
            if (beta == 0.0) {
                c.asSlice(row, n * FB).fill((byte) 0);
                continue;
            }
            int j = 0;
            for (; j <= n - L; j += L) {
                long o = row + j * FB;
                DoubleVector.fromMemorySegment(S, c, o, NATIVE).mul(vb).intoMemorySegment(c, o, NATIVE);
            }
            for (; j < n; j++) {
                long o = row + j * FB;
                c.set(F, o, beta * c.get(F, o));
            }
        }
    }

    static int ceilDiv(int x, int y) {
        return (x + y - 1) / y;
    }

    /** A block size of at most about {@code max} (a multiple of {@code unit}) that splits {@code total} evenly. */
    static int balanced(int total, int max, int unit) {
        int blocks = ceilDiv(total, max);
        int size = ceilDiv(total, blocks);
        return ceilDiv(size, unit) * unit;
    }
}
