package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;

/**
 * The packed micro-panels of one chunk of a packed GEMM ({@link GemmF32}), packed when first needed: a thread about
 * to compute a block of C packs the panels of that block that no thread has taken yet, then waits for any that
 * another thread is packing. Packing (bound by memory) so runs beside other threads' products (bound by the FMA
 * units) instead of all threads packing everything at once before any product starts, and a thread never waits for a
 * panel it does not use. A panel taken is always packed at once, without waiting on anything, so no thread can wait
 * for another that waits for it; one whose packing fails is marked failed, so that no thread waits for it for ever.
 *
 * <p>Units: A panel q of kc block pb is unit {@code pb·mPanels + q}; B panel p of block pb is unit
 * {@code aUnits + pb·nPanels + p}. An operand already packed for this chunk (A when an earlier chunk of B's columns
 * packed the same rows) has no units; A panels that the products read where they lie ({@link InPlaceA}) are never
 * taken.
 */
final class PackedPanels {

    private static final int FREE = 0, TAKEN = 1, PACKED = 2, FAILED = 3;
    private static final long FB = Float.BYTES;

    private final boolean transA, transB;
    private final MemorySegment a, b, ap, bp;
    private final long aOff, bOff;
    private final int lda, ldb, row0, rows, col0, cols, mr, nr, kc, k, mPanels, nPanels;
    private final boolean packA, packB;
    /** A panels below this one are read in place, not packed. */
    private final int aFrom;

    private final int aUnits;
    private final AtomicIntegerArray state;

    /**
     * Panels of op(A)[row0 : row0+rows, :] into {@code ap} (when {@code packA}) and of op(B)[:, col0 : col0+cols] into
     * {@code bp} (when {@code packB}), in kc-deep blocks; A's first {@code aInPlace} panels are read where they lie.
     */
    PackedPanels(
            boolean transA,
            MemorySegment a,
            long aOff,
            int lda,
            int row0,
            int rows,
            boolean packA,
            int aInPlace,
            boolean transB,
            MemorySegment b,
            long bOff,
            int ldb,
            int col0,
            int cols,
            boolean packB,
            int mr,
            int nr,
            int kc,
            int k,
            MemorySegment ap,
            MemorySegment bp) {
        this.transA = transA;
        this.a = a;
        this.aOff = aOff;
        this.lda = lda;
        this.row0 = row0;
        this.rows = rows;
        this.packA = packA;
        this.aFrom = aInPlace;
        this.transB = transB;
        this.b = b;
        this.bOff = bOff;
        this.ldb = ldb;
        this.col0 = col0;
        this.cols = cols;
        this.packB = packB;
        this.mr = mr;
        this.nr = nr;
        this.kc = kc;
        this.k = k;
        this.ap = ap;
        this.bp = bp;
        int kBlocks = GemmF32.ceilDiv(k, kc);
        this.mPanels = GemmF32.ceilDiv(rows, mr);
        this.nPanels = GemmF32.ceilDiv(cols, nr);
        this.aUnits = packA ? mPanels * kBlocks : 0;
        this.state = new AtomicIntegerArray(aUnits + (packB ? nPanels * kBlocks : 0));
    }

    /**
     * Returns once A panels {@code [q0, q1)} and B panels {@code [p0, p1)} of kc blocks {@code [pb0, pb1)} are packed,
     * having packed those no other thread had taken; with {@code spent} (tracing) adds the nanoseconds spent packing to
     * {@code spent[0]} and waiting to {@code spent[1]}.
     */
    void ensure(int q0, int q1, int p0, int p1, int pb0, int pb1, long[] spent) {
        long t0 = spent != null ? System.nanoTime() : 0;
        // first take and pack every free panel, then wait for the ones others took: waiting first would idle this
        // thread while panels it could pack itself are left
        for (int pb = pb0; pb < pb1; pb++) {
            if (packA) {
                for (int q = Math.max(q0, aFrom); q < q1; q++) {
                    take(pb * mPanels + q, true, pb, q);
                }
            }
            if (packB) {
                for (int p = p0; p < p1; p++) {
                    take(aUnits + pb * nPanels + p, false, pb, p);
                }
            }
        }
        long t1 = spent != null ? System.nanoTime() : 0;
        for (int pb = pb0; pb < pb1; pb++) {
            if (packA) {
                for (int q = Math.max(q0, aFrom); q < q1; q++) {
                    await(pb * mPanels + q);
                }
            }
            if (packB) {
                for (int p = p0; p < p1; p++) {
                    await(aUnits + pb * nPanels + p);
                }
            }
        }
        if (spent != null) {
            long t2 = System.nanoTime();
            spent[0] += t1 - t0;
            spent[1] += t2 - t1;
        }
    }

    /**
     * Packs unit {@code u} (panel {@code i} of A or of B, kc block {@code pb}) if no thread has taken it. A panel that
     * fails to pack (its operand's memory closed under the call) is marked so, and whoever waits for it fails too
     * instead of waiting for ever.
     */
    private void take(int u, boolean ofA, int pb, int i) {
        if (state.get(u) != FREE || !state.compareAndSet(u, FREE, TAKEN)) {
            return;
        }
        try {
            if (ofA) {
                packA(pb, i);
            } else {
                packB(pb, i);
            }
        } catch (RuntimeException | Error e) {
            state.set(u, FAILED);
            throw e;
        }
        state.set(u, PACKED);
    }

    private void packA(int pb, int q) {
        int kcb = Math.min(kc, k - pb * kc);
        SgemmPack.packA(
                transA,
                a,
                aOff,
                lda,
                row0 + q * mr,
                Math.min(mr, rows - q * mr),
                pb * kc,
                kcb,
                mr,
                ap,
                ((long) pb * kc * mPanels * mr + (long) q * mr * kcb) * FB);
    }

    private void packB(int pb, int p) {
        int kcb = Math.min(kc, k - pb * kc);
        SgemmPack.packB(
                transB,
                b,
                bOff,
                ldb,
                pb * kc,
                kcb,
                col0 + p * nr,
                Math.min(nr, cols - p * nr),
                nr,
                bp,
                ((long) pb * kc * nPanels * nr + (long) p * nr * kcb) * FB);
    }

    /**
     * Waits until unit {@code u} is packed: spinning first (a panel takes microseconds), then parking briefly so
     * that a machine shared with other work is not burnt.
     */
    private void await(int u) {
        for (int spin = 0, st; (st = state.get(u)) != PACKED; spin++) {
            if (st == FAILED) {
                throw new IllegalStateException("another thread failed to pack a panel of this product");
            }
            if (spin < 20_000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(20_000);
            }
        }
    }
}
