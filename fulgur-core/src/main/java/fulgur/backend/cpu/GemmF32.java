package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The f32 GEMM engine behind {@link Gemm#sgemm}: Goto/BLIS blocking with packed panels and a register-blocked FMA
 * micro-kernel chosen by the vector width at start-up ({@link SgemmKernel}), blocked for this machine's caches
 * ({@link GemmBlocking}).
 *
 * <pre>
 * (chunks of A and B of at most half of L3 each; one chunk each for the usual sizes)
 * every thread:  take the next rectangle of C (a {@link #grid} of row groups × column groups), and for it:
 *   for each block of mb rows:
 *     for each nb-wide slice of its columns:        C block (mb×nb) stays in L2 for all kc blocks
 *       pack its micro-panels of op(A) (mr tall) and op(B) (nr wide) that no thread has taken; wait for the rest
 *       for each kc block of k:                     B slice (kc×nb) stays in L2
 *         for each row panel of the block:         A micro-panel (mr×kc) stays in L1
 *           for each column panel of the slice:    tile = Ap·Bp (micro-kernel); C (+)= alpha·tile
 * (deep products, {@link #DEEP_BLOCKS} kc blocks or more: for each kc block, all slices of the rectangle, all its
 * row panels per slice)
 * </pre>
 * Both operands are packed once per call by the threads that first need each panel ({@link PackedPanels}; one
 * hand-off to the pool for the whole call), so packing is never repeated and runs beside other threads' products;
 * the rectangles share nothing but read-only panels, and each thread writes only its own rectangles of C. Products
 * with few rows do not pack all of B first ({@link #fewRowsB}): B stored k×n is read where it lies by the same
 * micro-kernel, and B stored n×k (the {@code x·Wᵀ} of a linear layer) has its rows broadcast in place against a
 * packed Aᵀ ({@link SgemmRowsB}, AVX-512) or is packed a cache-sized block at a time just before its use (AVX2); with
 * 16 rows or fewer, B stored n×k meets the rows of A in dot products ({@link #fewRows}; one row, the GEMV of
 * decoding, in {@link SgemvKernel}).
 *
 * Arguments are validated by {@link Gemm}; nothing here checks them again.
 */
final class GemmF32 {

    /** The micro-kernel for this machine's vector width. */
    static final SgemmKernel KERNEL = SgemmKernel.forMachine();
    /** Cache blocking for {@link #KERNEL} on this machine. */
    static final GemmBlocking BLOCKING = GemmBlocking.of(KERNEL, CpuCaches.read());
    /** The machine's preferred vector shape, for the epilogue and the few-rows paths. */
    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    static final int L = S.length();
    /**
     * Multiply-adds each thread must get (about 20 µs on one core): fewer threads take a product smaller than
     * this times the thread count, and below it the product runs on the calling thread only, since waking a pool
     * thread costs more than it saves.
     */
    static final long PARALLEL_MIN_FMAS = 1L << 20;
    /**
     * The same for few-row products (bound by reading B): 256K multiply-adds, a 1 MiB weight against one row. Waking
     * the pool costs tens of microseconds, or more on a machine running other work, but one core alone does not
     * reach the memory bandwidth that two do, and decoding is a chain of such products (0.6M–2.4M multiply-adds each
     * for a ~100M model): the GEMVs of one decoding step of a 100M Llama (312 MB of weights) took a median 77.8 ms
     * on one thread and 41.6 ms on two, in parts claimed as {@link Parallel#forChunks} hands them out (2 loaded
     * cores). {@code -Dfulgur.gemm.fewRowsParallelMin} sets it.
     */
    static final long FEW_ROWS_PARALLEL_MIN_FMAS = Long.getLong("fulgur.gemm.fewRowsParallelMin", 1L << 18);
    /** Parts per thread that a split few-row product is cut into (blocks of 4 vectors of columns each at least). */
    static final int FEW_ROWS_PARTS = 4;
    /** Largest B (elements) that fewer rows than the kernel's still multiply in place, one pass over B per row. */
    static final long FEW_ROWS_MAX_B = 1L << 18;
    /** Products of B stored n×k with at most this many rows take dot products with B's rows where they lie. */
    static final int DOT_MAX_ROWS = Integer.getInteger("fulgur.gemm.dotRows", 16);
    /** Up to this many rows against B stored n×k take {@link SgemmRowsB} (on AVX-512). */
    static final int ROWS_B_MAX = Integer.getInteger("fulgur.gemm.rowsB", 128);
    /**
     * Products of at least this many kc blocks take each kc block over a whole rectangle of C (B's slice in L2 for all
     * its rows, C passed over once per block) instead of each block of C through the whole depth (C stays in L2, but
     * the rows of A and the columns of B are streamed again for every block of C). On the 2-core AVX-512 machine,
     * call by call against each other: the former 1.03–1.11× at k = 4096 (8 blocks of 512), level at 3072 (0.96–1.11),
     * the latter 2–6 % faster at 2048 and 1024. {@code -Dfulgur.gemm.deepBlocks} sets it.
     */
    static final int DEEP_BLOCKS = Integer.getInteger("fulgur.gemm.deepBlocks", 6);
    /**
     * Whether A stored row-major (m×k, not transposed) is read where it lies ({@link SgemmKernel#computeRows}) instead
     * of packed. The kernel runs as fast either way on one AVX-512 core (219–227 against 217–229 GFLOP/s on products
     * of 128 to 1024 deep), so packing A cost its whole time: 6 % of a 2048 × 480 × 1024 product, 10 % at 2048 × 144 ×
     * 128. {@code -Dfulgur.gemm.packA=true} packs it anyway.
     */
    static final boolean A_IN_PLACE = !Boolean.getBoolean("fulgur.gemm.packA");
    /** Products with at most this many rows read B where it lies (B k×n) instead of packing it. */
    static final int UNPACKED_B_MAX_ROWS = Integer.getInteger("fulgur.gemm.unpackedRows", 128);

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfFloat FP = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long FB = Float.BYTES;

    private GemmF32() {}

    /** One validated product; {@code parallel} allows the shared pool. Offsets and leading dims in elements. */
    static void gemm(
            boolean parallel,
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
        gemm(
                KERNEL,
                BLOCKING,
                parallel ? Parallel.threads() : 1,
                transA,
                transB,
                m,
                n,
                k,
                alpha,
                a,
                aOff,
                lda,
                b,
                bOff,
                ldb,
                beta,
                c,
                cOff,
                ldc);
    }

    /** {@link #gemm} with a given kernel, blocking and thread count (tests run every kernel through this). */
    static void gemm(
            SgemmKernel kern,
            GemmBlocking blk,
            int threads,
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
        if (m == 0 || n == 0) {
            return;
        }
        if (k == 0 || alpha == 0f) {
            scale(m, n, beta, c, cOff, ldc);
            return;
        }
        // every thread gets at least PARALLEL_MIN_FMAS of work (tens of microseconds): on many cores a small
        // product spread over all of them would spend more on the hand-off than on the product
        int available = threads;
        threads = (int) Math.max(1, Math.min(threads, (long) m * n * k / PARALLEL_MIN_FMAS));
        if (m == 1 && !transB && (long) k * n > FEW_ROWS_MAX_B) {
            // one row against a large B stored k×n (a weight kept transposed for batched decoding): B's rows in
            // memory order, the rows split over the threads
            int parts = (int) Math.max(1, Math.min(Math.min(available, k), (long) n * k / FEW_ROWS_PARALLEL_MIN_FMAS));
            oneRowTimesB(parts, transA, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff);
            return;
        }
        if (m == 1 || (transB && m <= DOT_MAX_ROWS) || (m < kern.mr && (long) k * n <= FEW_ROWS_MAX_B)) {
            // one row (decoding, GEMV), a few rows against B stored n×k (x·Wᵀ while decoding a small batch), or a
            // few against a B that stays in cache: read B in place, no packing
            int chunks = ceilDiv(n, 4 * L);
            threads = (int) Math.max(1, Math.min(available, (long) m * n * k / FEW_ROWS_PARALLEL_MIN_FMAS));
            SgemvKernel gemv = SgemvKernel.matching(kern);
            if (threads == 1 || chunks < 2) {
                fewRows(gemv, transA, transB, m, 0, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
            } else {
                // FEW_ROWS_PARTS claimable parts per thread: a worker that the scheduler runs late still finds some
                Parallel.forChunks(chunks, Math.min(chunks, threads * FEW_ROWS_PARTS), (s, e) -> {
                    int j0 = Math.min(n, s * 4 * L);
                    int j1 = Math.min(n, e * 4 * L);
                    if (j0 < j1) {
                        fewRows(
                                gemv, transA, transB, m, j0, j1, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff,
                                ldc);
                    }
                });
            }
            return;
        }
        if (transB && kern == SgemmKernel8x3.INSTANCE && m <= ROWS_B_MAX && n >= 48) {
            // x·Wᵀ for a small batch: Cᵀ = W·xᵀ with W's rows broadcast in place, 64 rows of x at a time
            for (int i0 = 0; i0 < m; i0 += SgemmRowsB.MAX_ROWS) {
                int mi = Math.min(SgemmRowsB.MAX_ROWS, m - i0);
                long ai = transA ? aOff + i0 : aOff + (long) i0 * lda;
                rowsB(threads, transA, mi, n, k, alpha, a, ai, lda, b, bOff, ldb, beta, c, cOff + (long) i0 * ldc, ldc);
            }
            return;
        }
        if (m <= UNPACKED_B_MAX_ROWS) {
            fewRowsB(
                    kern, blk, threads, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        } else {
            packed(kern, blk, threads, transA, transB, m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc);
        }
    }

    /** {@code batch} validated products; small ones are spread over the pool one product per task. */
    static void gemmBatched(
            boolean parallel,
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
        if (batch == 0 || m == 0 || n == 0) {
            return;
        }
        long fmas = (long) m * n * Math.max(k, 1);
        // as for one product: each thread gets at least PARALLEL_MIN_FMAS of the whole batch's work
        int threads = parallel ? (int) Math.max(1, Math.min(Parallel.threads(), batch * fmas / PARALLEL_MIN_FMAS)) : 1;
        if (batch == 1 || threads == 1) {
            for (int i = 0; i < batch; i++) {
                gemm(
                        parallel,
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
            return;
        }
        if (fmas < 8 * PARALLEL_MIN_FMAS || batch >= 4 * threads) {
            // one product per task, handed out one at a time so that a busy core simply takes fewer
            AtomicInteger next = new AtomicInteger();
            Parallel.forRange(Math.min(threads, batch), 1, (s, e) -> {
                for (int i; (i = next.getAndIncrement()) < batch; ) {
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
            });
        } else {
            for (int i = 0; i < batch; i++) {
                gemm(
                        true,
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
        }
    }

    /**
     * The packed product: chunks of op(A) (rows) and op(B) (columns) of at most {@link GemmBlocking#packedFloats}
     * each are packed by all threads together, then the rectangles of C they cover are computed.
     */
    private static void packed(
            SgemmKernel kern,
            GemmBlocking blk,
            int threads,
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
        int mr = kern.mr, nr = kern.nr;
        int kc = balanced(k, blk.kc(), 1);
        // the limit rounded up to whole panels: 4096 columns are one chunk of 86 panels, not 85 and a sliver of 16
        int perDepth = (int) Math.min(Integer.MAX_VALUE / 2, blk.packedFloats() / k);
        int mChunk = balanced(m, Math.clamp(roundUp(perDepth, mr), mr, roundUp(m, mr)), mr);
        int nChunk = balanced(n, Math.clamp(roundUp(perDepth, nr), nr, roundUp(n, nr)), nr);
        // full row panels of a row-major A are read where they lie; only a last one of fewer rows needs packed room
        boolean aInPlace = A_IN_PLACE && !transA;
        GemmScratch scratch = GemmScratch.get();
        MemorySegment ap = scratch.packedA(aInPlace && m % mr == 0 ? 0 : (long) mChunk * k * FB);
        MemorySegment bp = scratch.packedB((long) nChunk * k * FB);
        for (int jc = 0; jc < n; jc += nChunk) {
            int nc = Math.min(nChunk, n - jc);
            int nPanels = ceilDiv(nc, nr);
            for (int ic = 0; ic < m; ic += mChunk) {
                int mc = Math.min(mChunk, m - ic);
                int mPanels = ceilDiv(mc, mr);
                int ic0 = ic, jc0 = jc;
                InPlaceA inA =
                        aInPlace ? new InPlaceA(a, (aOff + (long) ic * lda) * FB, (long) lda * FB, mc / mr) : null;
                long g = grid(mPanels, nPanels, mr, nr, threads);
                int gm = (int) (g >>> 32), gn = (int) g;
                int qPer = ceilDiv(mPanels, gm), pPer = ceilDiv(nPanels, gn);
                int items = ceilDiv(mPanels, qPer) * ceilDiv(nPanels, pPer);
                int itemCols = ceilDiv(nPanels, pPer);
                // A is packed again for each chunk of B's columns only when it came in chunks itself
                PackedPanels panels = new PackedPanels(
                        transA,
                        a,
                        aOff,
                        lda,
                        ic,
                        mc,
                        jc == 0 || mChunk < m,
                        inA == null ? 0 : inA.panels(),
                        transB,
                        b,
                        bOff,
                        ldb,
                        jc,
                        nc,
                        ic == 0,
                        mr,
                        nr,
                        kc,
                        k,
                        ap,
                        bp);
                AtomicInteger nextItem = new AtomicInteger();
                // one hand-off to the pool: every thread takes rectangles of C, packing the panels each block of C
                // needs when no other thread has packed or taken them yet
                long called = GemmTrace.ON ? System.nanoTime() : 0;
                Parallel.forRange(Math.min(threads, Math.max(items, 1)), 1, (s, e) -> {
                    long started = GemmTrace.ON ? System.nanoTime() : 0;
                    long[] spent = GemmTrace.ON ? new long[2] : null;
                    float[] tile = GemmScratch.get().tile(mr * nr);
                    for (int it; (it = nextItem.getAndIncrement()) < items; ) {
                        int q0 = it / itemCols * qPer, p0 = it % itemCols * pPer;
                        int q1 = Math.min(mPanels, q0 + qPer), p1 = Math.min(nPanels, p0 + pPer);
                        sweep(
                                kern,
                                blk,
                                kc,
                                k,
                                q0,
                                q1,
                                p0,
                                p1,
                                mc,
                                nc,
                                panels,
                                spent,
                                inA,
                                ap,
                                mPanels,
                                bp,
                                nPanels,
                                tile,
                                alpha,
                                beta,
                                c,
                                cOff + (long) ic0 * ldc + jc0,
                                ldc);
                    }
                    if (GemmTrace.ON) {
                        long all = System.nanoTime() - started;
                        GemmTrace.part(started - called, spent[0], spent[1], all - spent[0] - spent[1]);
                    }
                });
                if (GemmTrace.ON) GemmTrace.call(System.nanoTime() - called);
            }
        }
    }

    /**
     * Row panels {@code [q0, q1)} × column panels {@code [p0, p1)} over the whole depth: the kc-deep block {@code pb}
     * of A panel q lies at float {@code pb·kc·mPanels·mr + q·mr·kcb} of {@code ap}, that of B panel p at float
     * {@code pb·kc·nPanels·nr + p·nr·kcb} of {@code bp}; C (whose corner is {@code cOff}) gets
     * {@code alpha·op(A)·op(B) + beta·C}.
     *
     * <p>The rows go in blocks of {@link GemmBlocking#mb}, and each block of C (mb rows × one nb-wide slice) takes
     * every kc block of the depth before the next: it stays in L2 from one pass to the next, so only the first pass
     * reaches C in memory, and the rows of A a slice streams stay few enough to come from L3. Sweeping all rows per
     * kc block instead (C passed over from memory once per kc block, A's whole block streamed per slice) ran at
     * 0.73–0.82 of the FMA peak where this order ran at 0.83–0.86, 4096×4096×1024 on one AVX-512 core. Deep products
     * ({@link #DEEP_BLOCKS}) keep that older order. The panels of a block of C, or of a kc block in the older order,
     * are made ready ({@link PackedPanels#ensure}) just before it.
     */
    private static void sweep(
            SgemmKernel kern,
            GemmBlocking blk,
            int kc,
            int k,
            int q0,
            int q1,
            int p0,
            int p1,
            int mc,
            int nc,
            PackedPanels panels,
            long[] spent,
            InPlaceA inA,
            MemorySegment ap,
            int mPanels,
            MemorySegment bp,
            int nPanels,
            float[] tile,
            float alpha,
            float beta,
            MemorySegment c,
            long cOff,
            int ldc) {
        int mr = kern.mr, nr = kern.nr;
        int kBlocks = ceilDiv(k, kc);
        // deep: the whole rectangle is one block of C, each kc block passing over it (sweepBlock cuts the slices);
        // else blocks of C of even size: 11 panels as 4 + 4 + 3, not 5 + 5 + 1 (a slice of one panel passes each A
        // micro-panel to the kernel once)
        boolean deep = kBlocks >= DEEP_BLOCKS;
        int nbPanels = deep ? p1 - p0 : balanced(p1 - p0, Math.max(1, blk.nb() / nr), 1);
        int mbPanels = deep ? q1 - q0 : balanced(q1 - q0, Math.max(1, blk.mb() / mr), 1);
        for (int qb = q0; qb < q1; qb += mbPanels) {
            int qe = Math.min(q1, qb + mbPanels);
            for (int jb = p0; jb < p1; jb += nbPanels) {
                int je = Math.min(p1, jb + nbPanels);
                if (!deep) {
                    panels.ensure(qb, qe, jb, je, 0, kBlocks, spent);
                }
                for (int pb = 0; pb < kBlocks; pb++) {
                    if (deep) {
                        panels.ensure(qb, qe, jb, je, pb, pb + 1, spent);
                    }
                    sweepBlock(
                            kern,
                            blk,
                            Math.min(kc, k - pb * kc),
                            qb,
                            qe,
                            jb,
                            je,
                            mc,
                            nc,
                            inA == null ? null : inA.atDepth(pb * kc),
                            ap,
                            (long) pb * kc * mPanels * mr,
                            bp,
                            (long) pb * kc * nPanels * nr,
                            nr * FB,
                            tile,
                            alpha,
                            pb == 0 ? beta : 1f,
                            c,
                            cOff,
                            ldc);
                }
            }
        }
    }

    /**
     * Row panels {@code [q0, q1)} × column panels {@code [p0, p1)} of one kc-deep block: A panel q at float
     * {@code aBase + q·mr·kcb} of {@code ap}, B panel p at byte {@code bBase·4 + p·nr·kcb·4} of {@code bp} with rows
     * {@code bStride} bytes apart; C (whose corner is {@code cOff}) gets {@code alpha·tile + bb·C}.
     */
    private static void sweepBlock(
            SgemmKernel kern,
            GemmBlocking blk,
            int kcb,
            int q0,
            int q1,
            int p0,
            int p1,
            int mc,
            int nc,
            InPlaceA inA,
            MemorySegment ap,
            long aBase,
            MemorySegment bp,
            long bBase,
            long bStride,
            float[] tile,
            float alpha,
            float bb,
            MemorySegment c,
            long cOff,
            int ldc) {
        int mr = kern.mr, nr = kern.nr;
        int nbPanels = Math.max(1, blk.nb() / nr);
        long ldcBytes = (long) ldc * FB;
        for (int jb = p0; jb < p1; jb += nbPanels) {
            int je = Math.min(p1, jb + nbPanels);
            for (int q = q0; q < q1; q++) {
                long aByte = (aBase + (long) q * mr * kcb) * FB;
                int rows = Math.min(mr, mc - q * mr);
                long cRow = (cOff + (long) q * mr * ldc) * FB;
                boolean inPlace = inA != null && q < inA.panels();
                long aRow = inPlace ? inA.byte0() + q * mr * inA.ldaBytes() : 0;
                for (int p = jb; p < je; p++) {
                    long bByte = (bBase + (long) p * nr * kcb) * FB;
                    if (inPlace) {
                        kern.computeRows(kcb, inA.a(), aRow, inA.ldaBytes(), bp, bByte, bStride, tile);
                    } else {
                        kern.compute(kcb, ap, aByte, bp, bByte, bStride, tile);
                    }
                    store(tile, nr, rows, Math.min(nr, nc - p * nr), c, cRow + (long) p * nr * FB, ldcBytes, alpha, bb);
                }
            }
        }
    }

    /** {@link SgemmRowsB} for m ≤ 64 rows: Aᵀ packed by the calling thread, blocks of B's rows split over threads. */
    private static void rowsB(
            int threads,
            boolean transA,
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
        int v = SgemmRowsB.vectors(m);
        int r = SgemmRowsB.rowsOfB(v);
        MemorySegment at = GemmScratch.get().packedA((long) k * v * SgemmRowsB.L * FB);
        SgemmRowsB.packAt(transA, m, v, k, a, aOff, lda, at);
        int blocks = ceilDiv(n, r);
        // one thread: no hand-off (the product was judged too small to share); else claimable parts, as in fewRows
        Parallel.forChunks(
                blocks,
                threads == 1 ? 1 : threads * FEW_ROWS_PARTS,
                (s, e) -> SgemmRowsB.compute(
                        v, m, s * r, Math.min(n, e * r), k, alpha, at, b, bOff, ldb, beta, c, cOff, ldc));
    }

    /**
     * A product of few rows: the rows of op(A) are packed (each work item packs its own, they are few). B stored k×n
     * is read where it lies, one kc×nr micro-panel at a time with rows {@code ldb} apart; only the last, partial
     * column panel is copied, so that no read runs past the end of B. B stored n×k (a weight against a small batch)
     * is packed by each work item a cache-sized block of its columns at a time, just before the block is used: every
     * element of B is read from memory once and its packed copy never leaves the cache, where packing all of B first
     * would write it out and read it back (as large as the product's own traffic when the rows are few).
     */
    private static void fewRowsB(
            SgemmKernel kern,
            GemmBlocking blk,
            int threads,
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
        int mr = kern.mr, nr = kern.nr;
        int kc = balanced(k, blk.kc(), 1);
        int kBlocks = ceilDiv(k, kc);
        int mPanels = ceilDiv(m, mr), nPanels = ceilDiv(n, nr);
        long g = grid(mPanels, nPanels, mr, nr, threads);
        int gm = (int) (g >>> 32), gn = (int) g;
        int qPer = ceilDiv(mPanels, gm), pPer = ceilDiv(nPanels, gn);
        int items = ceilDiv(mPanels, qPer) * ceilDiv(nPanels, pPer);
        int itemCols = ceilDiv(nPanels, pPer);
        int fullPanels = n / nr;
        int nbPanels = Math.max(1, blk.nb() / nr);
        AtomicInteger nextItem = new AtomicInteger();
        Parallel.forRange(Math.min(threads, items), 1, (s, e) -> {
            GemmScratch scratch = GemmScratch.get();
            float[] tile = scratch.tile(mr * nr);
            for (int it; (it = nextItem.getAndIncrement()) < items; ) {
                int q0 = it / itemCols * qPer, p0 = it % itemCols * pPer;
                int q1 = Math.min(mPanels, q0 + qPer), p1 = Math.min(nPanels, p0 + pPer);
                int rowsHere = Math.min(m, q1 * mr) - q0 * mr;
                MemorySegment ap = scratch.a((long) (q1 - q0) * mr * kc * FB);
                MemorySegment edge = transB ? null : scratch.b((long) nr * kc * FB);
                MemorySegment block = transB ? scratch.b((long) nbPanels * nr * kc * FB) : null;
                for (int pb = 0; pb < kBlocks; pb++) {
                    int kcb = Math.min(kc, k - pb * kc);
                    for (int q = q0; q < q1; q++) {
                        SgemmPack.packA(
                                transA,
                                a,
                                aOff,
                                lda,
                                q * mr,
                                Math.min(mr, m - q * mr),
                                pb * kc,
                                kcb,
                                mr,
                                ap,
                                (long) (q - q0) * mr * kcb * FB);
                    }
                    float bb = pb == 0 ? beta : 1f;
                    if (transB) {
                        // panel p of the block sits (p - jb) panels into it: the sweep's bases are shifted to match
                        for (int jb = p0; jb < p1; jb += nbPanels) {
                            int je = Math.min(p1, jb + nbPanels);
                            for (int p = jb; p < je; p++) {
                                SgemmPack.packB(
                                        true,
                                        b,
                                        bOff,
                                        ldb,
                                        pb * kc,
                                        kcb,
                                        p * nr,
                                        Math.min(nr, n - p * nr),
                                        nr,
                                        block,
                                        (long) (p - jb) * nr * kcb * FB);
                            }
                            sweepBlock(
                                    kern,
                                    blk,
                                    kcb,
                                    q0,
                                    q1,
                                    jb,
                                    je,
                                    m,
                                    n,
                                    null,
                                    ap,
                                    -(long) q0 * mr * kcb,
                                    block,
                                    -(long) jb * nr * kcb,
                                    nr * FB,
                                    tile,
                                    alpha,
                                    bb,
                                    c,
                                    cOff,
                                    ldc);
                        }
                        continue;
                    }
                    long bRow = (bOff + (long) pb * kc * ldb) * FB;
                    int pFull = Math.min(p1, fullPanels);
                    if (p0 < pFull) {
                        // panel p starts at byte bRow + p·nr·4, so pass the slice as panel index p with stride ldb
                        sweepUnpacked(
                                kern,
                                blk,
                                kcb,
                                q0,
                                q1,
                                p0,
                                pFull,
                                rowsHere,
                                ap,
                                b,
                                bRow,
                                (long) ldb * FB,
                                tile,
                                alpha,
                                bb,
                                c,
                                cOff,
                                ldc,
                                m);
                    }
                    if (p1 > fullPanels) {
                        SgemmPack.packB(
                                false, b, bOff, ldb, pb * kc, kcb, fullPanels * nr, n - fullPanels * nr, nr, edge, 0);
                        for (int q = q0; q < q1; q++) {
                            kern.compute(kcb, ap, (long) (q - q0) * mr * kcb * FB, edge, 0, nr * FB, tile);
                            store(
                                    tile,
                                    nr,
                                    Math.min(mr, m - q * mr),
                                    n - fullPanels * nr,
                                    c,
                                    (cOff + (long) q * mr * ldc + (long) fullPanels * nr) * FB,
                                    (long) ldc * FB,
                                    alpha,
                                    bb);
                        }
                    }
                }
            }
        });
    }

    /** {@link #sweep} for B read in place: column panel p starts {@code p·nr} floats into each row of B. */
    private static void sweepUnpacked(
            SgemmKernel kern,
            GemmBlocking blk,
            int kcb,
            int q0,
            int q1,
            int p0,
            int p1,
            int rowsHere,
            MemorySegment ap,
            MemorySegment b,
            long bRow,
            long bStride,
            float[] tile,
            float alpha,
            float bb,
            MemorySegment c,
            long cOff,
            int ldc,
            int m) {
        int mr = kern.mr, nr = kern.nr;
        int nbPanels = Math.max(1, blk.nb() / nr);
        long ldcBytes = (long) ldc * FB;
        for (int jb = p0; jb < p1; jb += nbPanels) {
            int je = Math.min(p1, jb + nbPanels);
            for (int q = q0; q < q1; q++) {
                long aByte = (long) (q - q0) * mr * kcb * FB;
                int rows = Math.min(mr, m - q * mr);
                long cRow = (cOff + (long) q * mr * ldc) * FB;
                for (int p = jb; p < je; p++) {
                    kern.compute(kcb, ap, aByte, b, bRow + (long) p * nr * FB, bStride, tile);
                    store(tile, nr, rows, nr, c, cRow + (long) p * nr * FB, ldcBytes, alpha, bb);
                }
            }
        }
    }

    /**
     * The work grid for {@code mPanels × nPanels} micro-tiles on {@code threads} threads: {@code gm} row groups ×
     * {@code gn} column groups, packed as {@code (gm << 32) | gn}. Among grids of one to four rectangles per thread
     * it picks the one with the least time per thread, counting whole rounds of rectangles, the padding of partial
     * rectangles, and the reading of each rectangle's panels (a term in 1/rows + 1/columns).
     */
    static long grid(int mPanels, int nPanels, int mr, int nr, int threads) {
        if (threads <= 1) {
            return 1L << 32 | 1;
        }
        double best = Double.MAX_VALUE;
        long choice = 1L << 32 | 1;
        for (int per = 1; per <= 4; per++) {
            int want = threads * per;
            for (int gm = 1; gm <= Math.min(want, mPanels); gm++) {
                int gn = Math.min(nPanels, Math.max(1, want / gm));
                int qPer = ceilDiv(mPanels, gm), pPer = ceilDiv(nPanels, gn);
                int items = ceilDiv(mPanels, qPer) * ceilDiv(nPanels, pPer);
                double rows = (double) qPer * mr, cols = (double) pPer * nr;
                double cost = ceilDiv(items, threads) * rows * cols * (1 + 32 / rows + 32 / cols);
                if (cost < best * 0.999) {
                    best = cost;
                    choice = (long) ceilDiv(mPanels, qPer) << 32 | ceilDiv(nPanels, pPer);
                }
            }
        }
        return choice;
    }

    /**
     * {@code C[0:rows, 0:cols] = alpha·tile + bb·C} (C not read when {@code bb == 0}); {@code tile} has rows
     * {@code nr} floats apart.
     */
    static void store(
            float[] tile,
            int nr,
            int rows,
            int cols,
            MemorySegment c,
            long cByte,
            long ldcBytes,
            float alpha,
            float bb) {
        FloatVector va = FloatVector.broadcast(S, alpha);
        FloatVector vb = FloatVector.broadcast(S, bb);
        int vecCols = cols / L * L;
        for (int r = 0; r < rows; r++) {
            int t = r * nr;
            long o = cByte + r * ldcBytes;
            for (int j = 0; j < vecCols; j += L) {
                FloatVector v = FloatVector.fromArray(S, tile, t + j);
                long at = o + j * FB;
                if (bb == 0f) {
                    v = v.mul(va);
                } else if (bb == 1f) {
                    v = v.fma(va, FloatVector.fromMemorySegment(S, c, at, NATIVE));
                } else {
                    v = v.fma(
                            va, FloatVector.fromMemorySegment(S, c, at, NATIVE).mul(vb));
                }
                v.intoMemorySegment(c, at, NATIVE);
            }
            for (int j = vecCols; j < cols; j++) {
                long at = o + j * FB;
                float v = bb == 0f ? alpha * tile[t + j] : Math.fma(alpha, tile[t + j], bb * c.get(F, at));
                c.set(F, at, v);
            }
        }
    }

    /**
     * Columns {@code [j0, j1)} of C for a few rows, without packing B: each row of op(A) is copied to a
     * contiguous scratch row (unless it is one row that already is), then multiplied with B where it lies (rows of B
     * scaled and summed when B is k×n, dot products with the rows of B when B is stored n×k: {@code gemv} for one row).
     */
    static void fewRows(
            SgemvKernel gemv,
            boolean transA,
            boolean transB,
            int m,
            int j0,
            int j1,
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
        if (m == 1 && transB && !transA) {
            // one contiguous row: the GEMV kernel reads it where it lies
            gemv.dotRows(k, a, aOff * FB, b, bOff * FB, (long) ldb * FB, j0, j1, alpha, beta, c, cOff * FB);
            return;
        }
        MemorySegment rows = GemmScratch.get().a((long) m * k * FB);
        for (int i = 0; i < m; i++) {
            long dst = (long) i * k * FB;
            if (!transA) {
                MemorySegment.copy(a, (aOff + (long) i * lda) * FB, rows, dst, (long) k * FB);
            } else {
                long src = (aOff + i) * FB;
                long step = (long) lda * FB;
                for (int p = 0; p < k; p++) {
                    rows.set(FP, dst + p * FB, a.get(F, src + p * step));
                }
            }
        }
        if (transB && m == 1) {
            gemv.dotRows(k, rows, 0, b, bOff * FB, (long) ldb * FB, j0, j1, alpha, beta, c, cOff * FB);
            return;
        }
        if (transB) {
            rowsDotB(rows, m, k, b, bOff, ldb, j0, j1, alpha, beta, c, cOff, ldc);
            return;
        }
        for (int i = 0; i < m; i++) {
            rowTimesB(
                    rows.asSlice((long) i * k * FB, (long) k * FB),
                    k,
                    b,
                    bOff * FB,
                    (long) ldb * FB,
                    j0,
                    j1,
                    alpha,
                    beta,
                    c,
                    (cOff + (long) i * ldc) * FB);
        }
    }

    /**
     * C[i, j] = alpha·(row_i · B[j, :]) + beta·C[i, j] for i < m and j in [j0, j1), B stored n×k read in place, the
     * m rows contiguous in {@code rows}. Four rows of B at a time (they stay in L1) meet the rows of A two at a
     * time, so B is read from memory once whatever m is.
     */
    private static void rowsDotB(
            MemorySegment rows,
            int m,
            int k,
            MemorySegment b,
            long bOff,
            int ldb,
            int j0,
            int j1,
            float alpha,
            float beta,
            MemorySegment c,
            long cOff,
            int ldc) {
        long ldbBytes = (long) ldb * FB;
        long kBytes = (long) k * FB;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            long o0 = (bOff + (long) j * ldb) * FB;
            int i = 0;
            for (; i + 2 <= m; i += 2) {
                dot2x4(
                        rows,
                        i * kBytes,
                        k,
                        b,
                        o0,
                        ldbBytes,
                        alpha,
                        beta,
                        c,
                        (cOff + (long) i * ldc + j) * FB,
                        (long) ldc * FB);
            }
            if (i < m) {
                rowDotB(
                        rows.asSlice(i * kBytes, kBytes),
                        k,
                        b,
                        bOff,
                        ldb,
                        j,
                        j + 4,
                        alpha,
                        beta,
                        c,
                        (cOff + (long) i * ldc) * FB);
            }
        }
        if (j < j1) {
            for (int i = 0; i < m; i++) {
                rowDotB(
                        rows.asSlice(i * kBytes, kBytes),
                        k,
                        b,
                        bOff,
                        ldb,
                        j,
                        j1,
                        alpha,
                        beta,
                        c,
                        (cOff + (long) i * ldc) * FB);
            }
        }
    }

    /** Two rows of A (k floats apart) against four rows of B: a 2×4 block of C, eight accumulators. */
    private static void dot2x4(
            MemorySegment rows,
            long r0,
            int k,
            MemorySegment b,
            long o0,
            long ldbBytes,
            float alpha,
            float beta,
            MemorySegment c,
            long cByte,
            long ldcBytes) {
        long r1 = r0 + (long) k * FB;
        long o1 = o0 + ldbBytes, o2 = o1 + ldbBytes, o3 = o2 + ldbBytes;
        int kv = k / L * L;
        FloatVector s00 = FloatVector.zero(S), s01 = s00, s02 = s00, s03 = s00;
        FloatVector s10 = s00, s11 = s00, s12 = s00, s13 = s00;
        for (int p = 0; p < kv; p += L) {
            long po = p * FB;
            FloatVector x0 = FloatVector.fromMemorySegment(S, rows, r0 + po, NATIVE);
            FloatVector x1 = FloatVector.fromMemorySegment(S, rows, r1 + po, NATIVE);
            FloatVector y = FloatVector.fromMemorySegment(S, b, o0 + po, NATIVE);
            s00 = x0.fma(y, s00);
            s10 = x1.fma(y, s10);
            y = FloatVector.fromMemorySegment(S, b, o1 + po, NATIVE);
            s01 = x0.fma(y, s01);
            s11 = x1.fma(y, s11);
            y = FloatVector.fromMemorySegment(S, b, o2 + po, NATIVE);
            s02 = x0.fma(y, s02);
            s12 = x1.fma(y, s12);
            y = FloatVector.fromMemorySegment(S, b, o3 + po, NATIVE);
            s03 = x0.fma(y, s03);
            s13 = x1.fma(y, s13);
        }
        float d00 = Lanes.sum(s00), d01 = Lanes.sum(s01), d02 = Lanes.sum(s02), d03 = Lanes.sum(s03);
        float d10 = Lanes.sum(s10), d11 = Lanes.sum(s11), d12 = Lanes.sum(s12), d13 = Lanes.sum(s13);
        for (int p = kv; p < k; p++) {
            long po = p * FB;
            float x0 = rows.get(FP, r0 + po), x1 = rows.get(FP, r1 + po);
            float y0 = b.get(F, o0 + po), y1 = b.get(F, o1 + po), y2 = b.get(F, o2 + po), y3 = b.get(F, o3 + po);
            d00 = Math.fma(x0, y0, d00);
            d01 = Math.fma(x0, y1, d01);
            d02 = Math.fma(x0, y2, d02);
            d03 = Math.fma(x0, y3, d03);
            d10 = Math.fma(x1, y0, d10);
            d11 = Math.fma(x1, y1, d11);
            d12 = Math.fma(x1, y2, d12);
            d13 = Math.fma(x1, y3, d13);
        }
        storeScalar(d00, alpha, beta, c, cByte);
        storeScalar(d01, alpha, beta, c, cByte + FB);
        storeScalar(d02, alpha, beta, c, cByte + 2 * FB);
        storeScalar(d03, alpha, beta, c, cByte + 3 * FB);
        storeScalar(d10, alpha, beta, c, cByte + ldcBytes);
        storeScalar(d11, alpha, beta, c, cByte + ldcBytes + FB);
        storeScalar(d12, alpha, beta, c, cByte + ldcBytes + 2 * FB);
        storeScalar(d13, alpha, beta, c, cByte + ldcBytes + 3 * FB);
    }

    /** C[row, j0:j1] = alpha·Σ_p row[p]·B[p, j0:j1] + beta·C[row, j0:j1], B row-major k×n read in place. */
    private static void rowTimesB(
            MemorySegment row,
            int k,
            MemorySegment b,
            long bByte,
            long ldbBytes,
            int j0,
            int j1,
            float alpha,
            float beta,
            MemorySegment c,
            long cRow) {
        int j = j0;
        for (; j + 4 * L <= j1; j += 4 * L) {
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            long o = bByte + j * FB;
            for (int p = 0; p < k; p++, o += ldbBytes) {
                FloatVector x = FloatVector.broadcast(S, row.get(FP, p * FB));
                s0 = x.fma(FloatVector.fromMemorySegment(S, b, o, NATIVE), s0);
                s1 = x.fma(FloatVector.fromMemorySegment(S, b, o + L * FB, NATIVE), s1);
                s2 = x.fma(FloatVector.fromMemorySegment(S, b, o + 2 * L * FB, NATIVE), s2);
                s3 = x.fma(FloatVector.fromMemorySegment(S, b, o + 3 * L * FB, NATIVE), s3);
            }
            long co = cRow + j * FB;
            storeVector(s0, alpha, beta, c, co);
            storeVector(s1, alpha, beta, c, co + L * FB);
            storeVector(s2, alpha, beta, c, co + 2 * L * FB);
            storeVector(s3, alpha, beta, c, co + 3 * L * FB);
        }
        for (; j + L <= j1; j += L) {
            FloatVector s0 = FloatVector.zero(S);
            long o = bByte + j * FB;
            for (int p = 0; p < k; p++, o += ldbBytes) {
                s0 = FloatVector.broadcast(S, row.get(FP, p * FB))
                        .fma(FloatVector.fromMemorySegment(S, b, o, NATIVE), s0);
            }
            storeVector(s0, alpha, beta, c, cRow + j * FB);
        }
        for (; j < j1; j++) {
            float sum = 0f;
            long o = bByte + j * FB;
            for (int p = 0; p < k; p++, o += ldbBytes) {
                sum = Math.fma(row.get(FP, p * FB), b.get(F, o), sum);
            }
            storeScalar(sum, alpha, beta, c, cRow + j * FB);
        }
    }

    /**
     * c[0:n] = alpha·(x · B) + beta·c for one row x (k floats, {@code lda} apart when transA) and B stored k×n, read
     * row after row in memory order, so that the hardware prefetcher streams it (walking a strip of columns down all
     * k rows touches a new page every row). Part i of {@code parts} sums rows [k·i/parts, k·(i+1)/parts) into its own
     * n floats, four rows per pass; the parts are then added in order, so the result does not depend on which thread
     * ran which part.
     */
    private static void oneRowTimesB(
            int parts,
            boolean transA,
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
            long cOff) {
        float[] acc = GemmScratch.get().partials(parts * n);
        long xStride = (transA ? (long) lda : 1L) * FB;
        long ldbBytes = (long) ldb * FB;
        Parallel.forChunks(parts, parts, (s, e) -> {
            for (int part = s; part < e; part++) {
                int p0 = (int) ((long) k * part / parts), p1 = (int) ((long) k * (part + 1) / parts);
                int base = part * n;
                Arrays.fill(acc, base, base + n, 0f);
                int p = p0;
                for (; p + 4 <= p1; p += 4) {
                    long o = (bOff + (long) p * ldb) * FB;
                    long xo = aOff * FB + p * xStride;
                    float x0 = a.get(FP, xo), x1 = a.get(FP, xo + xStride);
                    float x2 = a.get(FP, xo + 2 * xStride), x3 = a.get(FP, xo + 3 * xStride);
                    FloatVector v0 = FloatVector.broadcast(S, x0), v1 = FloatVector.broadcast(S, x1);
                    FloatVector v2 = FloatVector.broadcast(S, x2), v3 = FloatVector.broadcast(S, x3);
                    int j = 0;
                    for (; j + L <= n; j += L) {
                        long bo = o + j * FB;
                        FloatVector t = FloatVector.fromArray(S, acc, base + j);
                        t = v0.fma(FloatVector.fromMemorySegment(S, b, bo, NATIVE), t);
                        t = v1.fma(FloatVector.fromMemorySegment(S, b, bo + ldbBytes, NATIVE), t);
                        t = v2.fma(FloatVector.fromMemorySegment(S, b, bo + 2 * ldbBytes, NATIVE), t);
                        t = v3.fma(FloatVector.fromMemorySegment(S, b, bo + 3 * ldbBytes, NATIVE), t);
                        t.intoArray(acc, base + j);
                    }
                    for (; j < n; j++) {
                        long bo = o + j * FB;
                        float t = acc[base + j];
                        t = Math.fma(x0, b.get(F, bo), t);
                        t = Math.fma(x1, b.get(F, bo + ldbBytes), t);
                        t = Math.fma(x2, b.get(F, bo + 2 * ldbBytes), t);
                        t = Math.fma(x3, b.get(F, bo + 3 * ldbBytes), t);
                        acc[base + j] = t;
                    }
                }
                for (; p < p1; p++) {
                    long o = (bOff + (long) p * ldb) * FB;
                    float x = a.get(FP, aOff * FB + p * xStride);
                    FloatVector v = FloatVector.broadcast(S, x);
                    int j = 0;
                    for (; j + L <= n; j += L) {
                        v.fma(
                                        FloatVector.fromMemorySegment(S, b, o + j * FB, NATIVE),
                                        FloatVector.fromArray(S, acc, base + j))
                                .intoArray(acc, base + j);
                    }
                    for (; j < n; j++) {
                        acc[base + j] = Math.fma(x, b.get(F, o + j * FB), acc[base + j]);
                    }
                }
            }
        });
        long co = cOff * FB;
        int j = 0;
        for (; j + L <= n; j += L) {
            FloatVector sum = FloatVector.fromArray(S, acc, j);
            for (int part = 1; part < parts; part++) {
                sum = sum.add(FloatVector.fromArray(S, acc, part * n + j));
            }
            storeVector(sum, alpha, beta, c, co + j * FB);
        }
        for (; j < n; j++) {
            float sum = acc[j];
            for (int part = 1; part < parts; part++) {
                sum += acc[part * n + j];
            }
            storeScalar(sum, alpha, beta, c, co + j * FB);
        }
    }

    /** C[row, j0:j1] = alpha·(row · B[j, :]) + beta·C[row, j] for each j, B stored n×k read in place. */
    private static void rowDotB(
            MemorySegment row,
            int k,
            MemorySegment b,
            long bOff,
            int ldb,
            int j0,
            int j1,
            float alpha,
            float beta,
            MemorySegment c,
            long cRow) {
        long ldbBytes = (long) ldb * FB;
        int kv = k / L * L;
        int j = j0;
        for (; j + 4 <= j1; j += 4) {
            long o0 = (bOff + (long) j * ldb) * FB, o1 = o0 + ldbBytes, o2 = o1 + ldbBytes, o3 = o2 + ldbBytes;
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int p = 0; p < kv; p += L) {
                long po = p * FB;
                FloatVector x = FloatVector.fromMemorySegment(S, row, po, NATIVE);
                s0 = x.fma(FloatVector.fromMemorySegment(S, b, o0 + po, NATIVE), s0);
                s1 = x.fma(FloatVector.fromMemorySegment(S, b, o1 + po, NATIVE), s1);
                s2 = x.fma(FloatVector.fromMemorySegment(S, b, o2 + po, NATIVE), s2);
                s3 = x.fma(FloatVector.fromMemorySegment(S, b, o3 + po, NATIVE), s3);
            }
            float d0 = Lanes.sum(s0), d1 = Lanes.sum(s1);
            float d2 = Lanes.sum(s2), d3 = Lanes.sum(s3);
            for (int p = kv; p < k; p++) {
                float x = row.get(FP, p * FB);
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
            FloatVector s0 = FloatVector.zero(S);
            for (int p = 0; p < kv; p += L) {
                s0 = FloatVector.fromMemorySegment(S, row, p * FB, NATIVE)
                        .fma(FloatVector.fromMemorySegment(S, b, o0 + p * FB, NATIVE), s0);
            }
            float d0 = Lanes.sum(s0);
            for (int p = kv; p < k; p++) {
                d0 = Math.fma(row.get(FP, p * FB), b.get(F, o0 + p * FB), d0);
            }
            storeScalar(d0, alpha, beta, c, cRow + j * FB);
        }
    }

    private static void storeVector(FloatVector sum, float alpha, float beta, MemorySegment c, long o) {
        FloatVector v = sum.mul(alpha);
        if (beta != 0f) {
            v = FloatVector.fromMemorySegment(S, c, o, NATIVE).fma(FloatVector.broadcast(S, beta), v);
        }
        v.intoMemorySegment(c, o, NATIVE);
    }

    private static void storeScalar(float sum, float alpha, float beta, MemorySegment c, long o) {
        float v = alpha * sum;
        if (beta != 0f) {
            v = Math.fma(beta, c.get(F, o), v);
        }
        c.set(F, o, v);
    }

    /** C = beta·C over an m×n block (C not read when beta == 0). */
    static void scale(int m, int n, float beta, MemorySegment c, long cOff, int ldc) {
        if (beta == 1f) {
            return;
        }
        FloatVector vb = FloatVector.broadcast(S, beta);
        for (int i = 0; i < m; i++) {
            long row = (cOff + (long) i * ldc) * FB;
            if (beta == 0f) {
                c.asSlice(row, n * FB).fill((byte) 0);
                continue;
            }
            int j = 0;
            for (; j <= n - L; j += L) {
                long o = row + j * FB;
                FloatVector.fromMemorySegment(S, c, o, NATIVE).mul(vb).intoMemorySegment(c, o, NATIVE);
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

    static int roundUp(int x, int unit) {
        return ceilDiv(x, unit) * unit;
    }
}
