package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every f32 micro-kernel (the AVX-512 one and the AVX2 one, whatever this machine has: a species wider than the
 * hardware's runs in the Vector API's Java fallback) through the whole engine against an f64 product, with small
 * cache blocks so that every path (several kc blocks, partial panels, the unpacked-B path, the register transposes,
 * several work rectangles on several threads) runs on small matrices.
 */
class SgemmKernelsTest {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final boolean[] BOOLS = {false, true};
    private static final int[] EDGE = {1, 2, 7, 13, 47, 50, 97};

    private final SplittableRandom rnd = new SplittableRandom(7);
    private final Arena arena = Arena.ofAuto();

    static java.util.List<SgemmKernel> kernels() {
        return SgemmKernel.all();
    }

    /**
     * Small blocks: kc 40 (so k = 97 makes 3 blocks), two micro-panels per B slice, blocks of three row panels, tiny
     * packed chunks.
     */
    private static GemmBlocking small(SgemmKernel kern) {
        return new GemmBlocking(40, 2 * kern.nr, 3 * kern.mr, 4000);
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void edgeShapesEveryTransposeOneAndSeveralThreads(SgemmKernel kern) {
        for (int m : EDGE) {
            for (int n : EDGE) {
                for (int k : new int[] {1, 13, 97}) {
                    for (boolean ta : BOOLS) {
                        for (boolean tb : BOOLS) {
                            check(kern, small(kern), m == 47 ? 3 : 1, ta, tb, m, n, k, 1.5f, 0f, 0, 0);
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void primesAroundTheTileAndTheBlocking(SgemmKernel kern) {
        int[][] shapes = {
            {kern.mr, kern.nr, 40},
            {kern.mr + 1, kern.nr + 1, 41},
            {kern.mr - 1, kern.nr - 1, 39},
            {131, 3 * kern.nr + 5, 89},
            {211, 67, 173},
            {3 * kern.mr, 101, 200},
            {257, 2 * kern.nr, 3}
        };
        for (int[] s : shapes) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    for (int threads : new int[] {1, 2, 5}) {
                        check(kern, small(kern), threads, ta, tb, s[0], s[1], s[2], -0.5f, 0f, 0, 0);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void accumulateIntoCStridedAndOffset(SgemmKernel kern) {
        for (float beta : new float[] {1f, -0.75f}) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    // padded leading dims (strided views) and C at an offset inside a larger buffer
                    check(kern, small(kern), 3, ta, tb, 67, 59, 83, 0.25f, beta, 5, 11);
                    check(kern, small(kern), 1, ta, tb, 9, 130, 45, 2f, beta, 3, 0);
                    // packed: several row blocks, slices and kc blocks, each block of C taking every kc block
                    check(kern, small(kern), 2, ta, tb, 150, 3 * kern.nr + 7, 97, 0.5f, beta, 2, 1);
                    // deep (7 kc blocks): each kc block over the whole rectangle
                    check(kern, small(kern), 2, ta, tb, 150, 2 * kern.nr + 3, 250, 0.5f, beta, 2, 1);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void theMachineBlockingOnALargerProduct(SgemmKernel kern) {
        GemmBlocking blk = GemmBlocking.of(kern, CpuCaches.read());
        check(kern, blk, 4, false, false, 301, 403, 517, 1f, 0f, 0, 0);
        check(kern, blk, 4, false, true, 300, 400, 520, 1f, 0.5f, 0, 0);
        check(kern, blk, 2, false, false, 64, 1000, 700, 1f, 0f, 0, 0); // few rows: B read in place
        // few rows against B stored n×k (a weight): B packed one cache-sized block at a time, several blocks
        check(kern, blk, 2, false, true, 64, 3000, 700, 1f, 0f, 0, 0);
        check(kern, blk, 3, true, true, 100, 1500, 900, -1f, 0.5f, 0, 0);
        // one row against a large B stored k×n: B's rows streamed, split over 1, 2 and 5 threads (k not a multiple
        // of 4 per part, n not a multiple of the vector), x read as a row or as a column of A
        for (int threads : new int[] {1, 2, 5}) {
            check(kern, blk, threads, false, false, 1, 1037, 517, 1f, 0f, 0, 0);
            check(kern, blk, threads, true, false, 1, 1037, 519, 0.5f, -1f, 0, 0);
        }
    }

    @Test
    void aFewRowsAgainstRowsOfBBroadcastInPlace() {
        // 17..128 rows against B stored n×k on AVX-512: every kernel width (2, 3 and 4 vectors of Aᵀ), rows of B
        // left over after the last kernel call, a second pass past 64 rows, A read as rows or as columns
        SgemmKernel kern = SgemmKernel8x3.INSTANCE;
        GemmBlocking blk = GemmBlocking.of(kern, CpuCaches.read());
        for (int m : new int[] {17, 32, 33, 48, 49, 64, 65, 100, 128}) {
            for (int n : new int[] {48, 53, 97}) {
                for (boolean ta : BOOLS) {
                    check(kern, blk, m == 49 ? 1 : 3, ta, true, m, n, 29, 1.5f, 0f, 0, 0);
                }
            }
        }
        check(kern, blk, 2, false, true, 40, 61, 64, -0.5f, 0.75f, 3, 7); // accumulating into a strided C
        // one thread: whole 16×16 blocks of Cᵀ go to C through registers, scaled and accumulated, then plainly
        check(kern, blk, 1, false, true, 40, 61, 64, -0.5f, 0.75f, 3, 7);
        check(kern, blk, 1, true, true, 48, 70, 33, 1f, 0f, 5, 2);
        check(kern, blk, 2, true, true, 64, 50, 1, 1f, 1f, 0, 0);
    }

    @Test
    void aRowOfAFewRowsAgainstRowsOfBDoesNotDependOnTheRowsBesideIt() {
        SgemmKernel kern = SgemmKernel8x3.INSTANCE;
        GemmBlocking blk = GemmBlocking.of(kern, CpuCaches.read());
        int n = 53, k = 77; // 53 rows of B: a partial last block, of a different size for 20 rows than for 64
        MemorySegment a = random(64L * k), b = random((long) n * k);
        MemorySegment all = arena.allocate(64L * n * Float.BYTES), few = arena.allocate(20L * n * Float.BYTES);
        GemmF32.gemm(kern, blk, 2, false, true, 64, n, k, 1f, a, 0, k, b, 0, k, 0f, all, 0, n);
        GemmF32.gemm(kern, blk, 1, false, true, 20, n, k, 1f, a, 0, k, b, 0, k, 0f, few, 0, n);
        assertThat(few.toArray(F))
                .isEqualTo(all.asSlice(0, 20L * n * Float.BYTES).toArray(F));
    }

    @ParameterizedTest
    @MethodSource("kernels")
    void kernelTileMatchesTheProductOfItsPanels(SgemmKernel kern) {
        for (int kc : new int[] {1, 2, 17, 64}) {
            MemorySegment ap = random((long) kern.mr * kc);
            long bStride = kern.nr + 3; // floats between rows of B: a panel read in place
            MemorySegment b = random(bStride * kc);
            float[] tile = new float[kern.mr * kern.nr];
            kern.compute(kc, ap, 0, b, 0, bStride * Float.BYTES, tile);
            for (int r = 0; r < kern.mr; r++) {
                for (int j = 0; j < kern.nr; j++) {
                    double s = 0, abs = 0;
                    for (int p = 0; p < kc; p++) {
                        double x = (double) ap.getAtIndex(F, (long) p * kern.mr + r) * b.getAtIndex(F, p * bStride + j);
                        s += x;
                        abs += Math.abs(x);
                    }
                    assertThat(Math.abs(tile[r * kern.nr + j] - s))
                            .as("%s tile[%d,%d] kc=%d", kern, r, j, kc)
                            .isLessThanOrEqualTo(1e-6 * abs + 1e-30);
                }
            }
            // the same micro-panel as rows of a row-major A (kc + 5 floats apart) read in place: the same sums, bit
            // for bit
            long lda = kc + 5;
            MemorySegment rows = random(kern.mr * lda + 2);
            for (int r = 0; r < kern.mr; r++) {
                for (int p = 0; p < kc; p++) {
                    rows.setAtIndex(F, 2 + r * lda + p, ap.getAtIndex(F, (long) p * kern.mr + r));
                }
            }
            float[] inPlace = new float[tile.length];
            kern.computeRows(kc, rows, 2 * Float.BYTES, lda * Float.BYTES, b, 0, bStride * Float.BYTES, inPlace);
            assertThat(inPlace).as("%s in place, kc=%d", kern, kc).isEqualTo(tile);
        }
    }

    @Test
    void theKernelFollowsTheVectorWidth() {
        assertThat(SgemmKernel.forVectorBits(512).nr).isEqualTo(48);
        assertThat(SgemmKernel.forVectorBits(512).mr).isEqualTo(8);
        assertThat(SgemmKernel.forVectorBits(256).mr).isEqualTo(6);
        assertThat(SgemmKernel.forVectorBits(256).lanes).isLessThanOrEqualTo(8);
        assertThat(SgemmKernel.forVectorBits(256).nr).isEqualTo(2 * SgemmKernel.forVectorBits(256).lanes);
    }

    @Test
    void transposedPackingMatchesTheScalarTranspose() {
        int nr = 48, kc = 77, ldb = 90;
        MemorySegment b = random((long) nr * ldb + 5);
        MemorySegment packed = arena.allocate((long) nr * kc * Float.BYTES, 64);
        SgemmPack.packB(true, b, 3, ldb, 2, kc, 0, nr, nr, packed, 0);
        for (int p = 0; p < kc; p++) {
            for (int j = 0; j < nr; j++) {
                assertThat(packed.getAtIndex(F, (long) p * nr + j))
                        .as("op(B)[%d,%d]", p, j)
                        .isEqualTo(b.getAtIndex(F, 3 + (long) j * ldb + 2 + p));
            }
        }
    }

    @Test
    void cacheSizesAreReadFromSysfsAndDefaultWhereMissing(@TempDir Path dir) throws Exception {
        cache(dir, 0, 1, "Data", "48K");
        cache(dir, 1, 1, "Instruction", "32K");
        cache(dir, 2, 2, "Unified", "2048K");
        cache(dir, 3, 3, "Unified", "105M");
        assertThat(CpuCaches.read(dir)).isEqualTo(new CpuCaches(48 << 10, 2 << 20, 105L << 20));
        assertThat(CpuCaches.read(dir.resolve("absent"))).isEqualTo(CpuCaches.DEFAULT);
        assertThat(CpuCaches.parseSize("512")).isEqualTo(512);
        assertThat(CpuCaches.parseSize("x")).isZero();
    }

    @Test
    void coresSharedByTwoThreadsGiveEachHalfOfL1AndL2(@TempDir Path dir) throws Exception {
        cache(dir, 0, 1, "Data", "48K");
        cache(dir, 2, 2, "Unified", "2048K");
        cache(dir, 3, 3, "Unified", "105M");
        Files.writeString(dir.resolve("index0/shared_cpu_list"), "0,8\n");
        Files.writeString(dir.resolve("index2/shared_cpu_list"), "0-1\n");
        Files.writeString(dir.resolve("index3/shared_cpu_list"), "0-15\n");
        assertThat(CpuCaches.read(dir)).isEqualTo(new CpuCaches(24 << 10, 1 << 20, 105L << 20));
        assertThat(CpuCaches.countCpus("0-3,8-11,15")).isEqualTo(9);
        assertThat(CpuCaches.countCpus("7")).isEqualTo(1);
    }

    @Test
    void blockingFitsTheCaches() {
        for (SgemmKernel kern : SgemmKernel.all()) {
            for (CpuCaches caches : new CpuCaches[] {
                new CpuCaches(32 << 10, 1 << 20, 32 << 20),
                new CpuCaches(48 << 10, 2 << 20, 105L << 20),
                new CpuCaches(32 << 10, 256 << 10, 8 << 20)
            }) {
                GemmBlocking blk = GemmBlocking.of(kern, caches);
                assertThat((long) kern.mr * blk.kc() * 4)
                        .as("A micro-panel in half of L1")
                        .isLessThanOrEqualTo(caches.l1() / 2);
                assertThat(blk.nb() % kern.nr).isZero();
                assertThat(blk.nb()).isGreaterThanOrEqualTo(kern.nr);
                assertThat((long) blk.kc() * blk.nb() * 4)
                        .as("B slice in half of L2")
                        .isLessThanOrEqualTo(Math.max(caches.l2() / 2, (long) blk.kc() * kern.nr * 4));
                assertThat(blk.mb() % kern.mr).isZero();
                assertThat(blk.mb()).isGreaterThanOrEqualTo(kern.mr);
                assertThat((long) blk.mb() * blk.nb() * 4)
                        .as("C block in a quarter of L2")
                        .isLessThanOrEqualTo(Math.max(caches.l2() / 4, (long) kern.mr * blk.nb() * 4));
            }
        }
    }

    @Test
    void theWorkGridIsNeverSlowerThanSplittingOneDimension() {
        // (within 5%: the grid may give up a tile of balance for rectangles that read much less of A and B)
        for (int threads : new int[] {1, 2, 3, 16}) {
            for (int[] p : new int[][] {{128, 22}, {512, 86}, {8, 86}, {1, 1}, {3, 200}, {200, 3}, {22, 22}}) {
                long g = GemmF32.grid(p[0], p[1], 8, 48, threads);
                int gm = (int) (g >>> 32), gn = (int) g;
                assertThat(gm).isBetween(1, p[0]);
                assertThat(gn).isBetween(1, p[1]);
                if (threads == 1) {
                    assertThat(gm * gn).isEqualTo(1);
                    continue;
                }
                // micro-tiles per thread: whole rounds of rectangles of ceil(panels / groups) tiles each
                int qPer = (p[0] + gm - 1) / gm, pPer = (p[1] + gn - 1) / gn;
                long perThread = (long) ((gm * gn + threads - 1) / threads) * qPer * pPer;
                long rowsSplit = (long) ((p[0] + threads - 1) / threads) * p[1];
                long colsSplit = (long) p[0] * ((p[1] + threads - 1) / threads);
                assertThat(perThread)
                        .as("%d threads on %d×%d panels: %d×%d", threads, p[0], p[1], gm, gn)
                        .isLessThanOrEqualTo((long) Math.ceil(1.05 * Math.min(rowsSplit, colsSplit)));
                assertThat(gm * gn).isLessThanOrEqualTo(4 * threads);
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    private static void cache(Path dir, int index, int level, String type, String size) throws Exception {
        Path d = Files.createDirectories(dir.resolve("index" + index));
        Files.writeString(d.resolve("level"), level + "\n");
        Files.writeString(d.resolve("type"), type + "\n");
        Files.writeString(d.resolve("size"), size + "\n");
    }

    private void check(
            SgemmKernel kern,
            GemmBlocking blk,
            int threads,
            boolean ta,
            boolean tb,
            int m,
            int n,
            int k,
            float alpha,
            float beta,
            int pad,
            int cOff) {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
        MemorySegment a = random((long) aRows * lda), b = random((long) bRows * ldb);
        MemorySegment c = random(cOff + (long) m * ldc);
        float[] before = c.toArray(F);
        if (beta == 0f) {
            for (int i = 0; i < m; i++) {
                for (int j = 0; j < n; j++) {
                    c.setAtIndex(F, cOff + (long) i * ldc + j, Float.NaN); // beta 0: C is never read
                }
            }
        }
        GemmF32.gemm(kern, blk, threads, ta, tb, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c, cOff, ldc);
        String what = kern + " " + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb + " threads=" + threads + " beta="
                + beta;
        for (int i = 0; i < before.length; i++) {
            int rel = i - cOff;
            boolean inside = rel >= 0 && rel / ldc < m && rel % ldc < n;
            if (!inside) {
                assertThat(c.getAtIndex(F, i))
                        .as("outside C at %d, %s", i, what)
                        .isEqualTo(before[i]);
            }
        }
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double x = (double) a.getAtIndex(F, ta ? (long) p * lda + i : (long) i * lda + p)
                            * b.getAtIndex(F, tb ? (long) j * ldb + p : (long) p * ldb + j);
                    s += x;
                    abs += Math.abs(x);
                }
                double c0 = before[cOff + i * ldc + j];
                double ref = alpha * s + (beta == 0f ? 0 : beta * c0);
                double scale = Math.abs(alpha) * abs + Math.abs(beta * c0);
                float got = c.getAtIndex(F, cOff + (long) i * ldc + j);
                assertThat(Math.abs(got - ref))
                        .as("C[%d,%d] = %s vs %s, %s", i, j, got, ref, what)
                        .isLessThanOrEqualTo(1e-5 * scale + 1e-30);
            }
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
