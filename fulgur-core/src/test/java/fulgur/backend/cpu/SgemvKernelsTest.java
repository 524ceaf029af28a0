package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Both GEMV kernels (sixteen rows of 16 lanes, eight rows of 8 lanes: a species wider than the hardware's runs in the
 * Vector API's Java fallback) against an f64 product, at sizes that are no multiple of the vector length or of the
 * rows of a block, directly and through the engine's one-row path on one and several threads.
 */
class SgemvKernelsTest {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final long FB = Float.BYTES;

    private final SplittableRandom rnd = new SplittableRandom(11);
    private final Arena arena = Arena.ofAuto();

    static java.util.List<SgemvKernel> kernels() {
        return SgemvKernel.all();
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void oddRowsAndDepthsAgainstTheF64Product(SgemvKernel kern) {
        int r = kern.rows, l = kern.lanes;
        for (int n : new int[] {1, r - 1, r, r + 1, 2 * r + 3, 5 * r + 7}) {
            for (int k : new int[] {1, l - 1, l, l + 1, 3 * l + 5, 97, 769}) {
                check(kern, n, k, 0, n, 1f, 0f, 0, 0);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void paddedRowsOffsetsAlphaAndBeta(SgemvKernel kern) {
        int r = kern.rows;
        for (float beta : new float[] {0f, 1f, -0.75f}) {
            check(kern, 3 * r + 5, 131, 0, 3 * r + 5, 1.5f, beta, 7, 3);
            check(kern, 2 * r, 64, 0, 2 * r, -0.5f, beta, 5, 0);
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void aRangeOfRowsWritesOnlyItsPartOfY(SgemvKernel kern) {
        int r = kern.rows;
        check(kern, 6 * r + 3, 77, 3, 4 * r + 6, 1f, 0f, 2, 1);
        check(kern, 6 * r + 3, 80, r + 1, r + 2, 1f, 0.5f, 0, 0);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void everyRowGetsTheSameBitsWhereverTheRangeIsCut(SgemvKernel kern) {
        int n = 7 * kern.rows + 5, k = 3 * kern.lanes + 2;
        MemorySegment x = random(k), b = random((long) n * k);
        MemorySegment whole = arena.allocate(n * FB, 64), pieces = arena.allocate(n * FB, 64);
        kern.dotRows(k, x, 0, b, 0, k * FB, 0, n, 1f, 0f, whole, 0);
        for (int j0 = 0, step = 1; j0 < n; j0 += step, step = step % 9 + 2) {
            kern.dotRows(k, x, 0, b, 0, k * FB, j0, Math.min(n, j0 + step), 1f, 0f, pieces, 0);
        }
        assertThat(pieces.toArray(F)).isEqualTo(whole.toArray(F));
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void theEngineOneRowPathOnOneAndSeveralThreads(SgemvKernel kern) {
        SgemmKernel gemm = SgemmKernel.all().stream()
                .filter(g -> SgemvKernel.matching(g) == kern)
                .findFirst()
                .orElseThrow();
        GemmBlocking blk = GemmBlocking.of(gemm, CpuCaches.read());
        for (int threads : new int[] {1, 2, 5}) {
            for (boolean transA : new boolean[] {false, true}) {
                // 1×n×k with B stored n×k: large enough to be split into parts on several threads
                engine(gemm, blk, threads, transA, 1003, 517, 1f, 0f);
                engine(gemm, blk, threads, transA, 333, 1001, -2f, 0.25f);
            }
        }
    }

    @Test
    void aRowAloneGetsTheBitsItGetsInABatch() {
        // the machine's kernel sums lanes in Lanes.sum's order, as the few-row path of several rows does
        SgemmKernel gemm = SgemmKernel.forMachine();
        if (SgemvKernel.matching(gemm).lanes != FloatVector.SPECIES_PREFERRED.length()) {
            return;
        }
        GemmBlocking blk = GemmBlocking.of(gemm, CpuCaches.read());
        int n = 301;
        for (int k : new int[] {203, 208}) {
            MemorySegment a = random(2L * k), b = random((long) n * k);
            MemorySegment one = arena.allocate(n * FB, 64), two = arena.allocate(2L * n * FB, 64);
            GemmF32.gemm(gemm, blk, 2, false, true, 1, n, k, 0.5f, a, 0, k, b, 0, k, 0f, one, 0, n);
            GemmF32.gemm(gemm, blk, 2, false, true, 2, n, k, 0.5f, a, 0, k, b, 0, k, 0f, two, 0, n);
            assertThat(one.toArray(F))
                    .as("k=%d", k)
                    .isEqualTo(two.asSlice(0, n * FB).toArray(F));
        }
    }

    @Test
    void eachStepPairsALaneWithItsPartnerAndKeepsOneCopyOfEachPair() {
        assertThat(SgemvKernel.partner(16, 8)).containsExactly(8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7);
        assertThat(SgemvKernel.partner(8, 2)).containsExactly(2, 3, 0, 1, 6, 7, 4, 5);
        assertThat(SgemvKernel.partner(8, 1)).containsExactly(1, 0, 3, 2, 5, 4, 7, 6);
        assertThat(SgemvKernel.fromB(16, 8))
                .containsExactly(
                        false, false, false, false, false, false, false, false, true, true, true, true, true, true,
                        true, true);
        assertThat(SgemvKernel.fromB(8, 2)).containsExactly(false, false, true, true, false, false, true, true);
    }

    // ---------------------------------------------------------------- helpers

    /**
     * Rows {@code [j0, j1)} of y = alpha·B·x + beta·y for B n×k (rows {@code k + pad} floats apart), x, B and y at
     * offsets of {@code off} floats; y outside the rows must be left alone, and y is NaN inside them when beta is 0.
     */
    private void check(SgemvKernel kern, int n, int k, int j0, int j1, float alpha, float beta, int pad, int off) {
        int ldb = k + pad;
        MemorySegment x = random(off + k), b = random(off + (long) n * ldb), y = random(off + n);
        float[] before = y.toArray(F);
        if (beta == 0f) {
            for (int j = j0; j < j1; j++) {
                y.setAtIndex(F, off + j, Float.NaN);
            }
        }
        kern.dotRows(k, x, off * FB, b, off * FB, ldb * FB, j0, j1, alpha, beta, y, off * FB);
        String what = kern + " n=" + n + " k=" + k + " rows " + j0 + ".." + j1 + " beta=" + beta;
        for (int j = 0; j < n; j++) {
            float got = y.getAtIndex(F, off + j);
            if (j < j0 || j >= j1) {
                assertThat(got).as("y[%d] outside the rows, %s", j, what).isEqualTo(before[off + j]);
                continue;
            }
            double s = 0, abs = 0;
            for (int p = 0; p < k; p++) {
                double t = (double) x.getAtIndex(F, off + p) * b.getAtIndex(F, off + (long) j * ldb + p);
                s += t;
                abs += Math.abs(t);
            }
            double y0 = before[off + j];
            double ref = alpha * s + (beta == 0f ? 0 : beta * y0);
            double scale = Math.abs(alpha) * abs + Math.abs(beta * y0);
            assertThat(Math.abs(got - ref))
                    .as("y[%d] = %s vs %s, %s", j, got, ref, what)
                    .isLessThanOrEqualTo(1e-5 * scale + 1e-30);
        }
    }

    /** C[1×n] = alpha·op(A)·Bᵀ + beta·C through the engine, op(A) a row of A (a column when transA). */
    private void engine(
            SgemmKernel gemm, GemmBlocking blk, int threads, boolean transA, int n, int k, float alpha, float beta) {
        int lda = transA ? 3 : k; // transA: A is k×3, the row is its first column
        MemorySegment a = random((long) k * (transA ? 3 : 1)), b = random((long) n * k), c = random(n);
        float[] before = c.toArray(F);
        GemmF32.gemm(gemm, blk, threads, transA, true, 1, n, k, alpha, a, 0, lda, b, 0, k, beta, c, 0, n);
        for (int j = 0; j < n; j++) {
            double s = 0, abs = 0;
            for (int p = 0; p < k; p++) {
                double t = (double) a.getAtIndex(F, transA ? (long) p * lda : p) * b.getAtIndex(F, (long) j * k + p);
                s += t;
                abs += Math.abs(t);
            }
            double ref = alpha * s + beta * before[j];
            double scale = Math.abs(alpha) * abs + Math.abs(beta * before[j]);
            assertThat(Math.abs(c.getAtIndex(F, j) - ref))
                    .as("C[0,%d], %s threads=%d transA=%s", j, gemm, threads, transA)
                    .isLessThanOrEqualTo(1e-5 * scale + 1e-30);
        }
    }

    private MemorySegment random(long count) {
        MemorySegment s = arena.allocate(Math.max(1, count) * Float.BYTES, 64);
        for (long i = 0; i < count; i++) {
            s.setAtIndex(F, i, (float) rnd.nextDouble(-1, 1));
        }
        return s;
    }
}
