package fulgur.bench;

import fulgur.backend.cpu.Gemm;
import fulgur.backend.cpu.Parallel;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The {@code gemv} quick benchmark: one-row products {@code y = x·Wᵀ} (decoding one token) against weights that live in
 * memory, in GB/s of weights read, beside a plain read of the same bytes by the same threads ({@link #read})
 * measured in the same rounds. Each case is a list of matrices read one
 * after the other: a single shape repeated over {@link #MIN_BYTES} (well past any last-level cache), or the 61 weight
 * matrices of a 100M TNL's decoding step in its order (466 MB). Weights are fulgur tensors, allocated as a model's are
 * (on 2 MiB pages where the machine offers them), and the step once more on 4 KiB pages.
 *
 * <p>The variants run in turn within each round (the order turning round), so a machine shared with other work loads
 * them alike; the figures are medians over rounds, and each ratio is the median of the ratios within a round.
 * {@code GemvQuick [--rounds 10]} prints one line per case; {@code fulgur bench gemv} gives JSON.
 */
public final class GemvQuick {

    /** Bytes each single-shape case cycles through. */
    static final long MIN_BYTES = 256L << 20;

    /** One weight matrix: {@code rows × cols} floats, row-major (W stored [out, in]). */
    public record Matrix(MemorySegment data, int rows, int cols) {
        static Matrix of(Tensor t) {
            return new Matrix(t.hostSegment("gemv"), t.size(0), t.size(1));
        }

        long bytes() {
            return (long) rows * cols * Float.BYTES;
        }
    }

    /** One set of matrices read one after the other by a pass. */
    public record Case(String name, List<Matrix> weights) {
        public long bytes() {
            return weights.stream().mapToLong(Matrix::bytes).sum();
        }
    }

    /** A way of reading a case: one pass multiplies (or reads) every matrix once. */
    public interface Variant {
        String name();

        void pass(Case c);
    }

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static volatile float sink;

    private GemvQuick() {}

    /**
     * The cases: qkvu, out, GLU up and down, the head (one shape each), then a whole TNL decoding step, and the same
     * step copied to memory from {@code smallPages} (the arena's own allocation: 4 KiB pages where huge pages are only
     * given on request) beside fulgur's tensors (on 2 MiB pages where the machine offers them).
     */
    public static List<Case> cases(Scope scope, Arena smallPages) {
        Rng rng = new Rng(5);
        List<Case> out = new ArrayList<>();
        int[][] shapes = {{3072, 768}, {768, 768}, {2048, 768}, {768, 2048}, {32000, 768}};
        for (int[] s : shapes) {
            long bytes = (long) s[0] * s[1] * Float.BYTES;
            int copies = (int) Math.max(1, (MIN_BYTES + bytes - 1) / bytes);
            List<Matrix> w = new ArrayList<>();
            for (int i = 0; i < copies; i++) {
                w.add(Matrix.of(scope.run(() -> rng.normal(0, 0.02, s[0], s[1]))));
            }
            out.add(new Case("1x" + s[0] + "x" + s[1] + ":NT", w));
        }
        List<Matrix> step = new ArrayList<>();
        for (int layer = 0; layer < 12; layer++) {
            for (int i = 0; i < 4; i++) {
                int[] s = shapes[i];
                step.add(Matrix.of(scope.run(() -> rng.normal(0, 0.02, s[0], s[1]))));
                if (i == 2) {
                    step.add(Matrix.of(
                            scope.run(() -> rng.normal(0, 0.02, s[0], s[1])))); // the GLU's second up-projection
                }
            }
        }
        step.add(Matrix.of(scope.run(() -> rng.normal(0, 0.02, 32000, 768))));
        out.add(new Case("TNL step (12 layers + head)", step));
        List<Matrix> copy = new ArrayList<>();
        for (Matrix m : step) {
            MemorySegment c = smallPages.allocate(m.bytes(), 64);
            c.copyFrom(m.data());
            copy.add(new Matrix(c, m.rows(), m.cols()));
        }
        out.add(new Case("TNL step, 4 KiB pages", copy));
        return out;
    }

    /** fulgur's {@link Gemm#sgemm} of one row against each matrix. */
    public static Variant fulgur(Arena arena) {
        MemorySegment x = random(arena, 4096), y = arena.allocate(32000L * Float.BYTES, 64);
        return new Variant() {
            @Override
            public String name() {
                return "fulgur";
            }

            @Override
            public void pass(Case c) {
                for (Matrix w : c.weights()) {
                    int n = w.rows(), k = w.cols();
                    Gemm.sgemm(false, true, 1, n, k, 1f, x, 0, k, w.data(), 0, k, 0f, y, 0, n);
                }
            }
        };
    }

    /**
     * A plain read of every matrix: each of the pool's threads sums its share of the bytes, cut in eight parts read
     * side by side (eight streams from memory, as the GEMV has sixteen rows of W in flight; one stream per thread reads
     * less on 4 KiB pages).
     */
    public static Variant read() {
        return new Variant() {
            @Override
            public String name() {
                return "read";
            }

            @Override
            public void pass(Case c) {
                int threads = Parallel.threads();
                for (Matrix w : c.weights()) {
                    MemorySegment m = w.data();
                    long per = m.byteSize() / threads / S.vectorByteSize() * S.vectorByteSize();
                    Parallel.forChunks(threads, threads, (s, e) -> {
                        for (int t = s; t < e; t++) {
                            sink = sum(m, t * per, t == threads - 1 ? m.byteSize() - t * per : per);
                        }
                    });
                }
            }
        };
    }

    /** The sum of the floats in bytes {@code [from, from + bytes)}, read in eight parts side by side (whole vectors). */
    static float sum(MemorySegment m, long from, long bytes) {
        long step = S.vectorByteSize();
        long part = bytes / 8 / step * step;
        FloatVector a0 = FloatVector.zero(S), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
        for (long o = from; o < from + part; o += step) {
            a0 = a0.add(FloatVector.fromMemorySegment(S, m, o, NATIVE));
            a1 = a1.add(FloatVector.fromMemorySegment(S, m, o + part, NATIVE));
            a2 = a2.add(FloatVector.fromMemorySegment(S, m, o + 2 * part, NATIVE));
            a3 = a3.add(FloatVector.fromMemorySegment(S, m, o + 3 * part, NATIVE));
            a4 = a4.add(FloatVector.fromMemorySegment(S, m, o + 4 * part, NATIVE));
            a5 = a5.add(FloatVector.fromMemorySegment(S, m, o + 5 * part, NATIVE));
            a6 = a6.add(FloatVector.fromMemorySegment(S, m, o + 6 * part, NATIVE));
            a7 = a7.add(FloatVector.fromMemorySegment(S, m, o + 7 * part, NATIVE));
        }
        return a0.add(a1).add(a2.add(a3)).add(a4.add(a5).add(a6.add(a7))).reduceLanes(VectorOperators.ADD);
    }

    /** GB/s of each variant on each case: {@code gbps[case][variant][round]}. */
    public static double[][][] measure(List<Case> cases, List<Variant> variants, int rounds) {
        double[][][] gbps = new double[cases.size()][variants.size()][rounds];
        for (int ci = 0; ci < cases.size(); ci++) {
            Case c = cases.get(ci);
            for (Variant v : variants) {
                warmUp(v, c);
            }
            for (int r = 0; r < rounds; r++) {
                for (int i = 0; i < variants.size(); i++) {
                    int vi = (i + r) % variants.size();
                    gbps[ci][vi][r] = c.bytes() / 1e9 / seconds(variants.get(vi), c);
                }
            }
        }
        return gbps;
    }

    /** Seconds per pass: passes for at least 0.2 s, at least two. */
    private static double seconds(Variant v, Case c) {
        long t0 = System.nanoTime();
        int n = 0;
        do {
            v.pass(c);
            n++;
        } while (n < 2 || System.nanoTime() - t0 < 200_000_000L);
        return (System.nanoTime() - t0) / 1e9 / n;
    }

    /** Passes for 1.5 s and until one is within 1.3× of the fastest so far (the JIT has compiled the kernels). */
    private static void warmUp(Variant v, Case c) {
        long start = System.nanoTime();
        double best = Double.MAX_VALUE, last;
        do {
            long t0 = System.nanoTime();
            v.pass(c);
            last = System.nanoTime() - t0;
            best = Math.min(best, last);
        } while (System.nanoTime() - start < 1_500_000_000L
                || (last > 1.3 * best && System.nanoTime() - start < 20_000_000_000L));
    }

    static List<BenchResult> run() {
        List<BenchResult> out = new ArrayList<>();
        try (Scope scope = Scope.open("gemv");
                Arena arena = Arena.ofShared()) {
            List<Case> cases = cases(scope, arena);
            List<Variant> variants = List.of(read(), fulgur(arena));
            double[][][] g = measure(cases, variants, 7);
            for (int ci = 0; ci < cases.size(); ci++) {
                Map<String, Object> extra = new LinkedHashMap<>();
                extra.put("case", cases.get(ci).name());
                extra.put("bytes", cases.get(ci).bytes());
                extra.put("read_gbps", median(g[ci][0]));
                extra.put("fraction_of_read", medianRatio(g[ci][1], g[ci][0]));
                extra.put("rounds", g[ci][0].length);
                out.add(new BenchResult("gemv", "gemv_gbps", median(g[ci][1]), "GB/s", Machine.describe(extra)));
            }
        }
        return out;
    }

    /** The median of {@code a[r] / b[r]} over rounds. */
    public static double medianRatio(double[] a, double[] b) {
        double[] q = new double[a.length];
        for (int r = 0; r < a.length; r++) {
            q[r] = a[r] / b[r];
        }
        return median(q);
    }

    public static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    static MemorySegment random(Arena arena, long floats) {
        return GemmQuick.random(arena, floats, 3);
    }

    /** One line per case: median GB/s of the plain read and of fulgur, and fulgur's median fraction of the read. */
    public static void main(String[] args) {
        Map<String, String> o = DecodeSpeed.options(args, Map.of("rounds", "10"), List.of());
        try (Scope scope = Scope.open("gemv");
                Arena arena = Arena.ofShared()) {
            List<Case> cases = cases(scope, arena);
            double[][][] g = measure(cases, List.of(read(), fulgur(arena)), Integer.parseInt(o.get("rounds")));
            for (int ci = 0; ci < cases.size(); ci++) {
                System.out.printf(
                        Locale.ROOT,
                        "%-28s %7.1f MB  read %5.1f GB/s  fulgur %5.1f GB/s  fulgur / read %.2f%n",
                        cases.get(ci).name(),
                        cases.get(ci).bytes() / 1e6,
                        median(g[ci][0]),
                        median(g[ci][1]),
                        medianRatio(g[ci][1], g[ci][0]));
            }
        }
    }
}
