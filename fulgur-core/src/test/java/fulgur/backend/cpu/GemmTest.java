package fulgur.backend.cpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * sgemm/dgemm through the public entry points against a naive double-precision product, with this machine's
 * micro-kernel and blocking. {@link SgemmKernelsTest} runs every micro-kernel, whatever the machine's vector width.
 */
class GemmTest {

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE;
    private static final int[] AWKWARD = {1, 7, 33, 65, 127};
    private static final boolean[] BOOLS = {false, true};

    private final SplittableRandom rnd = new SplittableRandom(42);
    private final Arena arena = Arena.ofAuto();

    // ---------------------------------------------------------------- f32

    @Test
    void awkwardShapesAllTransposes() {
        for (boolean ta : BOOLS) {
            for (boolean tb : BOOLS) {
                for (int m : AWKWARD) {
                    for (int n : AWKWARD) {
                        for (int k : AWKWARD) {
                            checkS(new Case(ta, tb, m, n, k, 1.25f, -0.75f, 0, 0, 0, 0));
                        }
                    }
                }
            }
        }
    }

    @Test
    void shapesAroundTheBlockingAndTheThreadSplit() {
        int[][] shapes = {
            {6, 16, 256},
            {12, 32, 512},
            {5, 15, 255},
            {7, 17, 257}, // exact and off-by-one micro-tiles and KC
            {145, 40, 300},
            {288, 48, 20},
            {289, 49, 513}, // MC blocks, several KC blocks
            {30, 2050, 64},
            {13, 4100, 9}, // several NC blocks
            {5, 1100, 200},
            {1, 4000, 300},
            {2, 33, 5000},
            {3, 37, 13}, // few rows: B read in place
            {3, 700, 400},
            {4, 1100, 300}, // few rows, large B: packed
            {1, 2304, 768},
            {1, 1100, 500},
            {16, 300, 128}, // few rows, columns split over threads
            {600, 3, 200},
            {1000, 1, 64},
            {256, 256, 256}, // few columns, one thread split
        };
        for (int[] s : shapes) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    checkS(new Case(ta, tb, s[0], s[1], s[2], 0.5f, 1f, 0, 0, 0, 0));
                }
            }
        }
    }

    @Test
    void alphaAndBetaVariants() {
        float[] alphas = {1f, -2f, 0.3f};
        float[] betas = {0f, 1f, -1.5f};
        for (float alpha : alphas) {
            for (float beta : betas) {
                for (boolean ta : BOOLS) {
                    checkS(new Case(ta, !ta, 67, 45, 301, alpha, beta, 0, 0, 0, 0));
                    checkS(new Case(ta, ta, 130, 140, 150, alpha, beta, 0, 0, 0, 0));
                }
            }
        }
    }

    @Test
    void paddedLeadingDimsAndOffsetsLeaveTheGapsAlone() {
        for (boolean ta : BOOLS) {
            for (boolean tb : BOOLS) {
                checkS(new Case(ta, tb, 33, 65, 7, 1f, 0.5f, 3, 5, 9, 11));
                checkS(new Case(ta, tb, 127, 70, 260, -1f, 0f, 1, 17, 2, 13));
                checkS(new Case(ta, tb, 200, 300, 100, 2f, 1f, 16, 0, 1, 8));
            }
        }
    }

    @Test
    void betaZeroNeverReadsC() {
        for (boolean ta : BOOLS) {
            for (boolean tb : BOOLS) {
                for (int[] s : new int[][] {{7, 9, 3}, {65, 33, 600}, {200, 190, 300}}) {
                    Mats x = mats(new Case(ta, tb, s[0], s[1], s[2], 1.5f, 0f, 0, 0, 0, 0));
                    fill(x.c, Float.NaN);
                    Gemm.sgemm(ta, tb, s[0], s[1], s[2], 1.5f, x.a, 0, x.lda, x.b, 0, x.ldb, 0f, x.c, 0, x.ldc);
                    assertClose(x, referenceS(x, new float[s[0] * s[1]]));
                }
            }
        }
    }

    @Test
    void zeroDepthOrZeroAlphaOnlyScalesC() {
        int m = 37, n = 29;
        MemorySegment c = randomS(m * n);
        float[] before = c.toArray(F);
        MemorySegment none = arena.allocate(4);
        Gemm.sgemm(false, false, m, n, 0, 1f, none, 0, 0, none, 0, n, 2f, c, 0, n);
        for (int i = 0; i < before.length; i++) {
            assertThat(c.getAtIndex(F, i)).isEqualTo(2f * before[i]);
        }
        fill(c, Float.NaN);
        Gemm.sgemm(true, true, m, n, 0, 1f, none, 0, m, none, 0, 0, 0f, c, 0, n);
        assertThat(c.toArray(F)).containsOnly(0f);

        MemorySegment a = randomS(m * 8), b = randomS(8 * n);
        fill(a, Float.NaN);
        fill(c, 3f);
        Gemm.sgemm(false, false, m, n, 8, 0f, a, 0, 8, b, 0, n, -1f, c, 0, n);
        assertThat(c.toArray(F)).containsOnly(-3f);
    }

    @Test
    void emptyProductsTouchNothing() {
        MemorySegment c = randomS(10);
        float[] before = c.toArray(F);
        MemorySegment a = randomS(10), b = randomS(10);
        Gemm.sgemm(false, false, 0, 5, 2, 1f, a, 0, 2, b, 0, 5, 0f, c, 0, 5);
        Gemm.sgemm(false, false, 5, 0, 2, 1f, a, 0, 2, b, 0, 0, 0f, c, 0, 0);
        Gemm.sgemmBatched(false, false, 0, 2, 2, 2, 1f, a, 0, 2, 4, b, 0, 2, 4, 0f, c, 0, 2, 4);
        assertThat(c.toArray(F)).containsExactly(before);
    }

    @Test
    void batchedWithStridesAndBroadcasts() {
        // small products (spread over the batch), a larger one (each product split over threads), stride-0 A or B
        int[][] shapes = {{7, 9, 5, 13}, {3, 40, 50, 9}, {64, 64, 128, 6}, {33, 65, 17, 3}, {170, 170, 150, 2}};
        for (int[] s : shapes) {
            for (boolean ta : BOOLS) {
                for (boolean tb : BOOLS) {
                    for (int broadcast = 0; broadcast < 3; broadcast++) {
                        checkBatchedS(
                                ta,
                                tb,
                                s[3],
                                s[0],
                                s[1],
                                s[2],
                                broadcast == 1,
                                broadcast == 2,
                                broadcast == 0 ? 0f : 0.5f);
                    }
                }
            }
        }
    }

    @Test
    void confinedAndHeapSegmentsWork() {
        int m = 150, n = 140, k = 130;
        try (Arena confined = Arena.ofConfined()) {
            MemorySegment a = confined.allocate((long) m * k * 4),
                    b = confined.allocate((long) k * n * 4),
                    c = confined.allocate((long) m * n * 4);
            randomize(a);
            randomize(b);
            Gemm.sgemm(false, true, m, n, k, 1f, a, 0, k, b, 0, k, 0f, c, 0, n);
            Product ref = naive(false, true, m, n, k, a.toArray(F), k, b.toArray(F), k);
            assertRowsClose(c.toArray(F), n, ref.value(), ref.abs(), m, n, k);
        }
        float[] ah = new float[m * k], bh = new float[k * n], ch = new float[m * n];
        for (int i = 0; i < ah.length; i++) {
            ah[i] = (float) rnd.nextDouble(-1, 1);
        }
        for (int i = 0; i < bh.length; i++) {
            bh[i] = (float) rnd.nextDouble(-1, 1);
        }
        Gemm.sgemm(
                false,
                false,
                m,
                n,
                k,
                1f,
                MemorySegment.ofArray(ah),
                0,
                k,
                MemorySegment.ofArray(bh),
                0,
                n,
                0f,
                MemorySegment.ofArray(ch),
                0,
                n);
        Product ref = naive(false, false, m, n, k, ah, k, bh, n);
        assertRowsClose(ch, n, ref.value(), ref.abs(), m, n, k);
    }

    @Test
    void repeatedCallsGiveIdenticalResults() {
        Mats x = mats(new Case(false, false, 301, 257, 513, 1f, 0f, 0, 0, 0, 0));
        Gemm.sgemm(false, false, 301, 257, 513, 1f, x.a, 0, x.lda, x.b, 0, x.ldb, 0f, x.c, 0, x.ldc);
        float[] first = x.c.toArray(F);
        for (int r = 0; r < 3; r++) {
            fill(x.c, Float.NaN);
            Gemm.sgemm(false, false, 301, 257, 513, 1f, x.a, 0, x.lda, x.b, 0, x.ldb, 0f, x.c, 0, x.ldc);
            assertThat(x.c.toArray(F)).containsExactly(first);
        }
    }

    @Test
    void concurrentCallersEachGetTheirOwnResult() throws Exception {
        // several user threads share the pool; each packs into its own scratch
        int m = 130, n = 150, k = 170;
        Mats[] xs = new Mats[3];
        float[][] expected = new float[xs.length][];
        for (int t = 0; t < xs.length; t++) {
            xs[t] = mats(new Case(t == 1, t == 2, m, n, k, 1f, 0f, 0, 0, 0, 0));
            Gemm.sgemm(
                    t == 1, t == 2, m, n, k, 1f, xs[t].a, 0, xs[t].lda, xs[t].b, 0, xs[t].ldb, 0f, xs[t].c, 0,
                    xs[t].ldc);
            expected[t] = xs[t].c.toArray(F);
        }
        java.util.List<Thread> threads = new java.util.ArrayList<>();
        java.util.concurrent.ConcurrentLinkedQueue<Throwable> failures =
                new java.util.concurrent.ConcurrentLinkedQueue<>();
        for (int t = 0; t < xs.length; t++) {
            int id = t;
            threads.add(Thread.ofPlatform().start(() -> {
                try {
                    for (int r = 0; r < 10; r++) {
                        Mats x = xs[id];
                        fill(x.c, Float.NaN);
                        Gemm.sgemm(id == 1, id == 2, m, n, k, 1f, x.a, 0, x.lda, x.b, 0, x.ldb, 0f, x.c, 0, x.ldc);
                        assertThat(x.c.toArray(F)).containsExactly(expected[id]);
                    }
                } catch (Throwable e) {
                    failures.add(e);
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        assertThat(failures).isEmpty();
        assertClose(xs[0], referenceS(xs[0], new float[m * n]));
    }

    @Test
    void badArgumentsAreRejectedWithClearMessages() {
        MemorySegment a = arena.allocate(100 * 4), b = arena.allocate(100 * 4), c = arena.allocate(100 * 4);
        assertBad(
                () -> Gemm.sgemm(false, false, -1, 2, 2, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2), "sgemm", "m must be >= 0");
        assertBad(
                () -> Gemm.sgemm(false, false, 2, -3, 2, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2), "sgemm", "n must be >= 0");
        assertBad(
                () -> Gemm.sgemm(false, false, 2, 2, -1, 1f, a, 0, 2, b, 0, 2, 0f, c, 0, 2), "sgemm", "k must be >= 0");
        assertBad(() -> Gemm.sgemm(false, false, 2, 2, 2, 1f, a, -1, 2, b, 0, 2, 0f, c, 0, 2), "sgemm", "aOff");
        assertBad(() -> Gemm.sgemm(false, false, 4, 5, 6, 1f, a, 0, 5, b, 0, 5, 0f, c, 0, 5), "sgemm", "lda (5)");
        assertBad(
                () -> Gemm.sgemm(true, false, 4, 5, 6, 1f, a, 0, 3, b, 0, 5, 0f, c, 0, 5),
                "sgemm",
                "lda (3)",
                "transA");
        assertBad(() -> Gemm.sgemm(false, false, 4, 5, 6, 1f, a, 0, 6, b, 0, 4, 0f, c, 0, 5), "sgemm", "ldb (4)");
        assertBad(
                () -> Gemm.sgemm(false, true, 4, 5, 6, 1f, a, 0, 6, b, 0, 5, 0f, c, 0, 5),
                "sgemm",
                "ldb (5)",
                "transB");
        assertBad(() -> Gemm.sgemm(false, false, 4, 5, 6, 1f, a, 0, 6, b, 0, 5, 0f, c, 0, 4), "sgemm", "ldc (4)");
        assertBad(
                () -> Gemm.sgemm(false, false, 10, 10, 11, 1f, a, 0, 11, b, 0, 10, 0f, c, 0, 10),
                "sgemm",
                "segment a is too short",
                "needs 110",
                "holds 100");
        assertBad(
                () -> Gemm.sgemm(false, false, 10, 10, 10, 1f, a, 0, 10, b, 1, 10, 0f, c, 0, 10),
                "sgemm",
                "segment b is too short");
        assertBad(
                () -> Gemm.sgemm(false, false, 10, 10, 10, 1f, a, 0, 10, b, 0, 10, 0f, c, 0, 11),
                "sgemm",
                "segment c is too short");
        assertBad(
                () -> Gemm.sgemm(false, false, 2, 2, 2, 1f, a, 0, 2, b, 0, 2, 0f, c.asReadOnly(), 0, 2),
                "sgemm",
                "read-only");
        assertBad(() -> Gemm.sgemm(false, false, 2, 2, 2, 1f, null, 0, 2, b, 0, 2, 0f, c, 0, 2), "sgemm", "null");
        assertBad(
                () -> Gemm.sgemmBatched(false, false, 3, 2, 2, 2, 1f, a, 0, 2, 4, b, 0, 2, 0, 0f, c, 0, 2, 3),
                "sgemmBatched",
                "overlap");
        assertBad(
                () -> Gemm.sgemmBatched(false, false, 3, 2, 2, 2, 1f, a, 0, 2, -4, b, 0, 2, 0, 0f, c, 0, 2, 4),
                "sgemmBatched",
                "strideA must be >= 0");
        assertBad(
                () -> Gemm.sgemmBatched(false, false, 30, 2, 2, 2, 1f, a, 0, 2, 4, b, 0, 2, 0, 0f, c, 0, 2, 4),
                "sgemmBatched",
                "segment a is too short",
                "30 matrices");
        assertBad(
                () -> Gemm.sgemmBatched(false, false, -1, 2, 2, 2, 1f, a, 0, 2, 4, b, 0, 2, 0, 0f, c, 0, 2, 4),
                "sgemmBatched",
                "batch must be >= 0");
        assertBad(
                () -> Gemm.dgemm(false, false, 10, 10, 10, 1, a, 0, 10, b, 0, 10, 0, c, 0, 10),
                "dgemm",
                "segment a is too short",
                "doubles");
    }

    // ---------------------------------------------------------------- f64

    @Test
    void dgemmMatchesTheNaiveProduct() {
        int[] dims = {1, 7, 33, 65};
        for (boolean ta : BOOLS) {
            for (boolean tb : BOOLS) {
                for (int m : dims) {
                    for (int n : dims) {
                        for (int k : dims) {
                            checkD(ta, tb, m, n, k, 1.25, -0.75, false);
                        }
                    }
                }
                checkD(ta, tb, 150, 2100, 100, 0.5, 0, true);
                checkD(ta, tb, 3, 700, 600, -1, 2, false);
            }
        }
    }

    @Test
    void dgemmBatchedWithBroadcast() {
        int batch = 5, m = 20, n = 30, k = 40;
        MemorySegment a = randomD(m * k),
                b = randomD((long) batch * k * n),
                c = arena.allocate((long) batch * m * n * 8);
        fill(c, Double.NaN);
        Gemm.dgemmBatched(
                false, false, batch, m, n, k, 2.0, a, 0, k, 0, b, 0, n, (long) k * n, 0.0, c, 0, n, (long) m * n);
        double[] av = a.toArray(D);
        for (int i = 0; i < batch; i++) {
            double[] bv = b.asSlice((long) i * k * n * 8, (long) k * n * 8).toArray(D);
            double[] cv = c.asSlice((long) i * m * n * 8, (long) m * n * 8).toArray(D);
            for (int r = 0; r < m; r++) {
                for (int j = 0; j < n; j++) {
                    double s = 0;
                    for (int p = 0; p < k; p++) {
                        s += av[r * k + p] * bv[p * n + j];
                    }
                    assertThat(cv[r * n + j]).isCloseTo(2 * s, org.assertj.core.data.Offset.offset(1e-12 * k));
                }
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    /** One product: transposes, sizes, scalars, and paddings of the leading dims and the offset of C. */
    private record Case(
            boolean ta,
            boolean tb,
            int m,
            int n,
            int k,
            float alpha,
            float beta,
            int padA,
            int padB,
            int padC,
            int cOff) {}

    private record Mats(Case cs, MemorySegment a, int lda, MemorySegment b, int ldb, MemorySegment c, int ldc) {}

    private Mats mats(Case cs) {
        int aRows = cs.ta ? cs.k : cs.m, aCols = cs.ta ? cs.m : cs.k;
        int bRows = cs.tb ? cs.n : cs.k, bCols = cs.tb ? cs.k : cs.n;
        int lda = aCols + cs.padA, ldb = bCols + cs.padB, ldc = cs.n + cs.padC;
        MemorySegment a = randomS(Math.max(1, (long) aRows * lda));
        MemorySegment b = randomS(Math.max(1, (long) bRows * ldb));
        MemorySegment c = randomS(cs.cOff + (long) cs.m * ldc);
        return new Mats(cs, a, lda, b, ldb, c, ldc);
    }

    private void checkS(Case cs) {
        Mats x = mats(cs);
        float[] cBefore = x.c.toArray(F);
        Gemm.sgemm(
                cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, x.a, 0, x.lda, x.b, 0, x.ldb, cs.beta, x.c, cs.cOff, x.ldc);
        float[] cAfter = x.c.toArray(F);
        // everything outside the m×n window of C is untouched
        for (int i = 0; i < cAfter.length; i++) {
            int rel = i - cs.cOff;
            boolean inside = rel >= 0 && rel / x.ldc < cs.m && rel % x.ldc < cs.n;
            if (!inside) {
                assertThat(cAfter[i]).as("element %d outside C for %s", i, cs).isEqualTo(cBefore[i]);
            }
        }
        float[] c0 = new float[cs.m * cs.n];
        for (int i = 0; i < cs.m; i++) {
            for (int j = 0; j < cs.n; j++) {
                c0[i * cs.n + j] = cBefore[cs.cOff + i * x.ldc + j];
            }
        }
        assertClose(x, referenceS(x, c0));
    }

    /** The reference result and the magnitude each element's rounding error scales with. */
    private record Ref(double[] value, double[] scale) {}

    private Ref referenceS(Mats x, float[] c0) {
        Case cs = x.cs;
        float[] a = x.a.toArray(F), b = x.b.toArray(F);
        Product prod = naive(cs.ta, cs.tb, cs.m, cs.n, cs.k, a, x.lda, b, x.ldb);
        double[] ab = prod.value(), abs = prod.abs();
        double[] value = new double[ab.length], scale = new double[ab.length];
        for (int i = 0; i < ab.length; i++) {
            value[i] = cs.alpha * ab[i] + (cs.beta == 0 ? 0 : cs.beta * (double) c0[i]);
            scale[i] = Math.abs(cs.alpha) * abs[i] + Math.abs(cs.beta * c0[i]);
        }
        return new Ref(value, scale);
    }

    private void assertClose(Mats x, Ref ref) {
        Case cs = x.cs;
        float[] c = x.c.toArray(F);
        float[] got = new float[cs.m * cs.n];
        for (int i = 0; i < cs.m; i++) {
            for (int j = 0; j < cs.n; j++) {
                got[i * cs.n + j] = c[cs.cOff + i * x.ldc + j];
            }
        }
        assertRowsClose(got, cs.n, ref.value, ref.scale, cs.m, cs.n, cs.k, cs.toString());
    }

    private static void assertRowsClose(float[] got, int ldGot, double[] ref, double[] scale, int m, int n, int k) {
        assertRowsClose(got, ldGot, ref, scale, m, n, k, m + "x" + n + "x" + k);
    }

    /**
     * Each element within 1e-5 of its error scale (|alpha|·Σ|a·b| + |beta·c|), and the whole matrix within 1e-5
     * relative in the Frobenius norm, loosened by sqrt(k/256) for deep products.
     */
    private static void assertRowsClose(
            float[] got, int ldGot, double[] ref, double[] scale, int m, int n, int k, String what) {
        double tol = 1e-5 * Math.max(1, Math.sqrt(k / 256.0));
        double errSq = 0, refSq = 0;
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double g = got[i * ldGot + j], r = ref[i * n + j];
                assertThat(Double.isFinite(g))
                        .as("finite C[%d,%d] for %s", i, j, what)
                        .isTrue();
                assertThat(Math.abs(g - r))
                        .as("C[%d,%d] = %s vs %s for %s", i, j, g, r, what)
                        .isLessThanOrEqualTo(1e-5 * scale[i * n + j] + 1e-30);
                errSq += (g - r) * (g - r);
                refSq += r * r;
            }
        }
        assertThat(Math.sqrt(errSq))
                .as("Frobenius error for %s", what)
                .isLessThanOrEqualTo(tol * Math.sqrt(refSq) + 1e-30);
    }

    /** op(A)·op(B) in double, and Σ|a·b| per element (what its rounding error scales with), in one pass. */
    private record Product(double[] value, double[] abs) {}

    private static Product naive(boolean ta, boolean tb, int m, int n, int k, float[] a, int lda, float[] b, int ldb) {
        double[] out = new double[m * n], abs = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0, t = 0;
                for (int p = 0; p < k; p++) {
                    double x = (double) a[ta ? p * lda + i : i * lda + p] * b[tb ? j * ldb + p : p * ldb + j];
                    s += x;
                    t += Math.abs(x);
                }
                out[i * n + j] = s;
                abs[i * n + j] = t;
            }
        }
        return new Product(out, abs);
    }

    private void checkBatchedS(
            boolean ta, boolean tb, int batch, int m, int n, int k, boolean shareA, boolean shareB, float beta) {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + 1, ldb = bCols + 2, ldc = n + 3;
        long sa = shareA ? 0 : (long) aRows * lda + 5, sb = shareB ? 0 : (long) bRows * ldb + 7;
        long sc = (long) m * ldc + 4;
        MemorySegment a = randomS(shareA ? (long) aRows * lda : sa * batch);
        MemorySegment b = randomS(shareB ? (long) bRows * ldb : sb * batch);
        MemorySegment c = randomS(sc * batch + 2);
        float[] before = c.toArray(F);
        if (beta == 0f) {
            fill(c, Float.NaN);
        }
        float alpha = -0.75f;
        Gemm.sgemmBatched(ta, tb, batch, m, n, k, alpha, a, 0, lda, sa, b, 0, ldb, sb, beta, c, 2, ldc, sc);
        float[] av = a.toArray(F), bv = b.toArray(F), cv = c.toArray(F);
        for (int i = 0; i < batch; i++) {
            float[] ai = java.util.Arrays.copyOfRange(av, (int) (i * sa), (int) (i * sa) + aRows * lda);
            float[] bi = java.util.Arrays.copyOfRange(bv, (int) (i * sb), (int) (i * sb) + bRows * ldb);
            Product prod = naive(ta, tb, m, n, k, ai, lda, bi, ldb);
            double[] ab = prod.value(), abs = prod.abs();
            float[] got = new float[m * n];
            double[] ref = new double[m * n], scale = new double[m * n];
            for (int r = 0; r < m; r++) {
                for (int j = 0; j < n; j++) {
                    int at = (int) (2 + i * sc + (long) r * ldc + j);
                    got[r * n + j] = cv[at];
                    ref[r * n + j] = alpha * ab[r * n + j] + (beta == 0 ? 0 : beta * (double) before[at]);
                    scale[r * n + j] = Math.abs(alpha) * abs[r * n + j] + Math.abs(beta * before[at]);
                }
            }
            assertRowsClose(
                    got,
                    n,
                    ref,
                    scale,
                    m,
                    n,
                    k,
                    "batch " + i + " of " + batch + "x" + m + "x" + n + "x" + k + " ta=" + ta + " tb=" + tb + " shareA="
                            + shareA + " shareB=" + shareB);
        }
    }

    private void checkD(boolean ta, boolean tb, int m, int n, int k, double alpha, double beta, boolean poison) {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + 2, ldb = bCols + 1, ldc = n + 3;
        MemorySegment a = randomD((long) aRows * lda), b = randomD((long) bRows * ldb), c = randomD((long) m * ldc);
        if (poison) {
            fill(c, Double.NaN);
        }
        double[] av = a.toArray(D), bv = b.toArray(D), c0 = c.toArray(D);
        Gemm.dgemm(ta, tb, m, n, k, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
        double[] cv = c.toArray(D);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0, abs = 0;
                for (int p = 0; p < k; p++) {
                    double t = av[ta ? p * lda + i : i * lda + p] * bv[tb ? j * ldb + p : p * ldb + j];
                    s += t;
                    abs += Math.abs(t);
                }
                double cij = c0[i * ldc + j];
                double ref = alpha * s + (beta == 0 ? 0 : beta * cij);
                double scale = Math.abs(alpha) * abs + (beta == 0 ? 0 : Math.abs(beta * cij));
                assertThat(Math.abs(cv[i * ldc + j] - ref))
                        .as("dgemm C[%d,%d] %dx%dx%d ta=%s tb=%s", i, j, m, n, k, ta, tb)
                        .isLessThanOrEqualTo(1e-13 * scale + 1e-300);
            }
            for (int j = n; j < ldc; j++) {
                assertThat(Double.doubleToRawLongBits(cv[i * ldc + j]))
                        .isEqualTo(Double.doubleToRawLongBits(c0[i * ldc + j]));
            }
        }
    }

    private MemorySegment randomS(long count) {
        MemorySegment s = arena.allocate(count * 4, 64);
        randomize(s);
        return s;
    }

    private void randomize(MemorySegment s) {
        for (long i = 0; i < s.byteSize() / 4; i++) {
            s.setAtIndex(F, i, (float) rnd.nextDouble(-1, 1));
        }
    }

    private MemorySegment randomD(long count) {
        MemorySegment s = arena.allocate(count * 8, 64);
        for (long i = 0; i < count; i++) {
            s.setAtIndex(D, i, rnd.nextDouble(-1, 1));
        }
        return s;
    }

    private static void fill(MemorySegment s, float v) {
        for (long i = 0; i < s.byteSize() / 4; i++) {
            s.setAtIndex(F, i, v);
        }
    }

    private static void fill(MemorySegment s, double v) {
        for (long i = 0; i < s.byteSize() / 8; i++) {
            s.setAtIndex(D, i, v);
        }
    }

    private static void assertBad(Runnable call, String... fragments) {
        assertThatThrownBy(call::run)
                .isInstanceOf(IllegalArgumentException.class)
                .satisfies(e -> {
                    for (String f : fragments) {
                        assertThat(e.getMessage()).contains(f);
                    }
                });
    }
}
