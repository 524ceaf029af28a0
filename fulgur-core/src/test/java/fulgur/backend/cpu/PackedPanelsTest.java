package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link PackedPanels}: panels packed by whichever thread asks first, the same as packing them one by one. */
class PackedPanelsTest {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private final Arena arena = Arena.ofShared();

    @AfterEach
    void close() {
        arena.close();
    }

    private MemorySegment counting(long floats) {
        MemorySegment s = arena.allocate(floats * Float.BYTES, 64);
        for (long i = 0; i < floats; i++) {
            s.setAtIndex(F, i, i * 0.5f);
        }
        return s;
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void twoThreadsAskingForOverlappingBlocksPackEachPanelOnceAndAsSgemmPackWould() throws Exception {
        int mr = 8, nr = 48, kc = 16, k = 40, rows = 37, cols = 101; // partial last panels and a partial kc block
        MemorySegment a = counting((long) rows * k), b = counting((long) k * cols);
        MemorySegment ap = arena.allocate((long) 5 * mr * k * Float.BYTES, 64);
        MemorySegment bp = arena.allocate((long) 3 * nr * k * Float.BYTES, 64);
        PackedPanels panels = new PackedPanels(
                false, a, 0, k, 0, rows, true, 0, false, b, 0, cols, 0, cols, true, mr, nr, kc, k, ap, bp);
        CompletableFuture<Void> other = CompletableFuture.runAsync(() -> panels.ensure(0, 5, 1, 3, 0, 3, null));
        panels.ensure(2, 5, 0, 2, 0, 3, null);
        other.get();
        panels.ensure(0, 5, 0, 3, 0, 3, null); // all packed by now: nothing left to take or to wait for

        MemorySegment wantA = arena.allocate(ap.byteSize(), 64), wantB = arena.allocate(bp.byteSize(), 64);
        for (int pb = 0; pb * kc < k; pb++) {
            int kcb = Math.min(kc, k - pb * kc);
            for (int q = 0; q < 5; q++) {
                SgemmPack.packA(
                        false,
                        a,
                        0,
                        k,
                        q * mr,
                        Math.min(mr, rows - q * mr),
                        pb * kc,
                        kcb,
                        mr,
                        wantA,
                        ((long) pb * kc * 5 * mr + (long) q * mr * kcb) * Float.BYTES);
            }
            for (int p = 0; p < 3; p++) {
                SgemmPack.packB(
                        false,
                        b,
                        0,
                        cols,
                        pb * kc,
                        kcb,
                        p * nr,
                        Math.min(nr, cols - p * nr),
                        nr,
                        wantB,
                        ((long) pb * kc * 3 * nr + (long) p * nr * kcb) * Float.BYTES);
            }
        }
        assertThat(ap.toArray(F)).isEqualTo(wantA.toArray(F));
        assertThat(bp.toArray(F)).isEqualTo(wantB.toArray(F));
    }

    @Test
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void panelsOfAStoredKByMArePackedAsTheDefinitionSays() throws Exception {
        for (int mr : new int[] {8, 6}) { // the 16-lane kernel's vector copies, the 8-lane one's scalar path
            int nr = 48, kc = 16, k = 40, rows = 77, lda = 83; // A stored k×lda, the product's rows at column 3
            int mPanels = (rows + mr - 1) / mr;
            MemorySegment a = counting((long) k * lda), b = counting((long) k * nr);
            MemorySegment ap = arena.allocate((long) mPanels * mr * k * Float.BYTES, 64);
            MemorySegment bp = arena.allocate((long) nr * k * Float.BYTES, 64);
            ap.fill((byte) 0x7f);
            PackedPanels panels = new PackedPanels(
                    true, a, 3, lda, 0, rows, true, 0, false, b, 0, nr, 0, nr, true, mr, nr, kc, k, ap, bp);
            // two threads whose ranges of row panels overlap
            CompletableFuture<Void> other = CompletableFuture.runAsync(() -> panels.ensure(2, 6, 0, 1, 0, 3, null));
            panels.ensure(0, mPanels, 0, 1, 0, 3, null);
            other.get();

            float[] want = new float[mPanels * mr * k];
            for (int pb = 0; pb * kc < k; pb++) {
                int kcb = Math.min(kc, k - pb * kc);
                for (int q = 0; q < mPanels; q++) {
                    for (int p = 0; p < kcb; p++) {
                        for (int r = 0; r < mr; r++) {
                            int row = q * mr + r, depth = pb * kc + p;
                            want[pb * kc * mPanels * mr + q * mr * kcb + p * mr + r] =
                                    row < rows ? a.getAtIndex(F, 3 + (long) depth * lda + row) : 0f;
                        }
                    }
                }
            }
            assertThat(ap.toArray(F)).as("mr = %d", mr).isEqualTo(want);
        }
    }

    @Test
    // a waiter that never learns of the failure would spin for ever, deaf to interrupts: fail it from outside
    @Timeout(value = 30, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void aPanelThatFailsToPackFailsTheThreadsWaitingForItInsteadOfHangingThem() {
        int mr = 8, nr = 48, k = 4;
        // A holds the first panel's 8 rows only: packing the second one reads past its end
        MemorySegment a = counting(8L * k), b = counting((long) k * nr);
        MemorySegment ap = arena.allocate(2L * mr * k * Float.BYTES, 64), bp = arena.allocate((long) nr * k * 4, 64);
        PackedPanels panels =
                new PackedPanels(false, a, 0, k, 0, 16, true, 0, false, b, 0, nr, 0, nr, true, mr, nr, k, k, ap, bp);
        assertThatThrownBy(() -> panels.ensure(1, 2, 0, 1, 0, 1, null)).isInstanceOf(IndexOutOfBoundsException.class);
        assertThatThrownBy(() -> panels.ensure(0, 2, 0, 1, 0, 1, null))
                .isInstanceOf(IllegalStateException.class)
                .hasMessage("another thread failed to pack a panel of this product");
    }

    @Test
    void panelsReadInPlaceAreNeverPackedAndTheLastPartialOneIs() {
        int mr = 8, nr = 48, kc = 16, k = 40, rows = 37; // panels 0–3 full (read in place), panel 4 of 5 rows
        MemorySegment a = counting((long) rows * k), b = counting((long) k * nr);
        MemorySegment ap = arena.allocate((long) 5 * mr * k * Float.BYTES, 64);
        MemorySegment bp = arena.allocate((long) nr * k * Float.BYTES, 64);
        ap.fill((byte) 0x7f); // a NaN pattern wherever nothing writes
        PackedPanels panels =
                new PackedPanels(false, a, 0, k, 0, rows, true, 4, false, b, 0, nr, 0, nr, true, mr, nr, kc, k, ap, bp);
        panels.ensure(0, 5, 0, 1, 0, 3, null);
        MemorySegment want = arena.allocate(ap.byteSize(), 64);
        want.fill((byte) 0x7f);
        for (int pb = 0; pb * kc < k; pb++) {
            int kcb = Math.min(kc, k - pb * kc);
            SgemmPack.packA(
                    false,
                    a,
                    0,
                    k,
                    4 * mr,
                    rows - 4 * mr,
                    pb * kc,
                    kcb,
                    mr,
                    want,
                    ((long) pb * kc * 5 * mr + (long) 4 * mr * kcb) * Float.BYTES);
        }
        assertThat(ap.toArray(ValueLayout.JAVA_INT)).isEqualTo(want.toArray(ValueLayout.JAVA_INT));
    }
}
