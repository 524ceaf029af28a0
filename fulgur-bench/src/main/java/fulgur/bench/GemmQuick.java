package fulgur.bench;

import fulgur.backend.cpu.Gemm;
import fulgur.backend.cpu.GemmTrace;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * The {@code gemm} quick benchmark: f32 {@link Gemm#sgemm} (alpha 1, beta 0) at 1024³, 4096×4096×1024 and the
 * shapes of a ~100M-parameter model's layers, skinny decoding ones included ({@link #SHAPES}), in GFLOP/s
 * (2·m·n·k per call) as the median of several timed calls after a warm-up, with the FMA peak measured in the same
 * run and the fractions:
 * <ul>
 *   <li>{@code fraction_of_peak}: median GFLOP/s over the best all-core peak of the run (the headline figure);</li>
 *   <li>{@code fraction_of_peak_best}: the best call over that peak;</li>
 *   <li>{@code fraction_of_adjacent_peak}: the median, over calls, of each call's GFLOP/s over a short peak
 *       measurement taken right before and after it (the better of the two). On a machine shared with other work
 *       this is the figure that tells the kernel's efficiency apart from the cores it was not given.</li>
 * </ul>
 */
final class GemmQuick {

    /** One GEMM shape: op(A) is m×k, op(B) k×n; {@code transB} is the {@code x·Wᵀ} of a linear layer. */
    record Shape(int m, int n, int k, boolean transA, boolean transB) {
        Shape(int m, int n, int k) {
            this(m, n, k, false, false);
        }

        /** {@code MxNxK}, optionally followed by {@code :NN}, {@code :NT}, {@code :TN} or {@code :TT}. */
        static Shape parse(String s) {
            String[] parts = s.trim().toUpperCase(java.util.Locale.ROOT).split(":");
            String[] p = parts[0].split("X");
            String t = parts.length > 1 ? parts[1] : "NN";
            if (p.length != 3 || parts.length > 2 || !t.matches("[NT][NT]")) {
                throw new IllegalArgumentException("a GEMM size is MxNxK[:NN|NT|TN|TT], e.g. 1024x1024x1024 or "
                        + "64x3072x768:NT; got '" + s + "'");
            }
            int[] d = new int[3];
            for (int i = 0; i < 3; i++) {
                try {
                    d[i] = Integer.parseInt(p[i].trim());
                } catch (NumberFormatException e) {
                    d[i] = 0;
                }
                if (d[i] < 1) {
                    throw new IllegalArgumentException("a GEMM size is MxNxK with positive integers; got '" + s + "'");
                }
            }
            return new Shape(d[0], d[1], d[2], t.charAt(0) == 'T', t.charAt(1) == 'T');
        }

        double flops() {
            return 2.0 * m * n * k;
        }

        String layout() {
            return (transA ? "T" : "N") + (transB ? "T" : "N");
        }

        @Override
        public String toString() {
            return m + "x" + n + "x" + k + (transA || transB ? ":" + layout() : "");
        }
    }

    /**
     * The headline sizes, then the layers of a ~100M-parameter model (d 768, FFN 3072, 8×512 tokens): the FFN's
     * forward {@code x·Wᵀ}, its input gradient and its weight gradient, and decoding: 64 and 16 rows against the FFN
     * and the 32000-word head, and one row (a GEMV, bound by memory rather than by the FMA units).
     */
    static final List<Shape> SHAPES = List.of(
            new Shape(1024, 1024, 1024),
            new Shape(4096, 4096, 1024),
            Shape.parse("4096x3072x768:NT"),
            Shape.parse("4096x768x3072:NN"),
            Shape.parse("3072x768x4096:TN"),
            Shape.parse("64x3072x768:NT"),
            Shape.parse("16x32000x768:NT"),
            Shape.parse("1x3072x768:NT"));

    private GemmQuick() {}

    /** The GFLOP/s of each timed call and the short all-core peak measured around it. */
    record Timing(double[] gflops, double[] adjacentPeak) {
        double bestPeak() {
            return Arrays.stream(adjacentPeak).max().orElse(0);
        }

        double medianAdjacentFraction() {
            double[] f = new double[gflops.length];
            for (int i = 0; i < f.length; i++) {
                f[i] = gflops[i] / adjacentPeak[i];
            }
            return median(f);
        }
    }

    static List<BenchResult> run() {
        double peak = FmaPeak.gflops(8);
        List<Timing> timings = new ArrayList<>();
        for (Shape s : SHAPES) {
            Timing t = measure(s, 1.0, 1.5);
            timings.add(t);
            peak = Math.max(peak, Math.max(t.bestPeak(), FmaPeak.gflops(5)));
        }
        List<BenchResult> out = new ArrayList<>();
        for (int i = 0; i < SHAPES.size(); i++) {
            Shape s = SHAPES.get(i);
            Timing t = timings.get(i);
            double[] g = t.gflops();
            double median = median(g);
            Map<String, Object> extra = new LinkedHashMap<>();
            extra.put("size", s.toString());
            extra.put("m", s.m);
            extra.put("n", s.n);
            extra.put("k", s.k);
            extra.put("layout", s.layout());
            extra.put("reps", g.length);
            extra.put("min_gflops", Arrays.stream(g).min().orElse(Double.NaN));
            extra.put("max_gflops", Arrays.stream(g).max().orElse(Double.NaN));
            extra.put("peak_gflops", peak);
            extra.put("fraction_of_peak", median / peak);
            extra.put("fraction_of_peak_best", Arrays.stream(g).max().orElse(Double.NaN) / peak);
            extra.put("fraction_of_adjacent_peak", t.medianAdjacentFraction());
            out.add(new BenchResult("gemm", "sgemm_gflops", median, "GFLOP/s", Machine.describe(extra)));
        }
        return out;
    }

    /**
     * Times {@code sgemm} on random operands: {@link #warmUp} untimed, then
     * at least 5 timed calls and {@code timedSeconds}, each between two short peak measurements.
     */
    static Timing measure(Shape s, double warmupSeconds, double timedSeconds) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) s.m * s.k, 1);
            MemorySegment b = random(arena, (long) s.k * s.n, 2);
            MemorySegment c = arena.allocate((long) s.m * s.n * Float.BYTES, 64);
            warmUp(s, a, b, c, warmupSeconds);
            GemmTrace.reset(); // the timed calls only
            double[] g = new double[64];
            double[] p = new double[64];
            int n = 0;
            long start = System.nanoTime();
            double before = FmaPeak.gflopsQuick();
            while (n < g.length && (n < 5 || System.nanoTime() - start < timedSeconds * 1e9)) {
                long t0 = System.nanoTime();
                call(s, a, b, c);
                long t1 = System.nanoTime();
                double after = FmaPeak.gflopsQuick();
                g[n] = s.flops() / (t1 - t0);
                p[n++] = Math.max(before, after);
                before = after;
            }
            return new Timing(Arrays.copyOf(g, n), Arrays.copyOf(p, n));
        }
    }

    /**
     * GFLOP/s of back-to-back timed calls (no peak measurement between them, as a peer library is timed), after a
     * warm-up as in {@link #measure}: at least 5 calls and {@code timedSeconds}, at most 64 calls.
     */
    static double[] measureBackToBack(Shape s, double warmupSeconds, double timedSeconds) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) s.m * s.k, 1);
            MemorySegment b = random(arena, (long) s.k * s.n, 2);
            MemorySegment c = arena.allocate((long) s.m * s.n * Float.BYTES, 64);
            warmUp(s, a, b, c, warmupSeconds);
            GemmTrace.reset(); // the timed calls only
            double[] g = new double[64];
            int n = 0;
            long start = System.nanoTime();
            while (n < g.length && (n < 5 || System.nanoTime() - start < timedSeconds * 1e9)) {
                long t0 = System.nanoTime();
                call(s, a, b, c);
                g[n++] = s.flops() / (System.nanoTime() - t0);
            }
            return Arrays.copyOf(g, n);
        }
    }

    /**
     * Calls for at least {@code warmupSeconds} and 3 calls, and on (for at most 30 s more) until a call runs at
     * 1 % of one core's FMA peak or better and within 1.3× of the fastest so far. The Vector API runs hundreds of
     * times slower until C2 has compiled the kernels, which takes seconds (a 256³ product takes 0.3 s a call for
     * the first five seconds), and slow calls can be steady, so neither a fixed time nor steadiness is enough;
     * compiled code, even a GEMV streaming its matrix from memory, runs well above that floor.
     */
    static void warmUp(Shape s, MemorySegment a, MemorySegment b, MemorySegment c, double warmupSeconds) {
        double floor = 0.01 * warmPeak() / fulgur.backend.cpu.Parallel.threads();
        long start = System.nanoTime();
        long bestCall = Long.MAX_VALUE, lastCall = Long.MAX_VALUE;
        for (int i = 0;
                i < 3
                        || System.nanoTime() - start < warmupSeconds * 1e9
                        || ((lastCall > 1.3 * bestCall || s.flops() / lastCall < floor)
                                && System.nanoTime() - start < (warmupSeconds + 30) * 1e9);
                i++) {
            long t0 = System.nanoTime();
            call(s, a, b, c);
            lastCall = System.nanoTime() - t0;
            bestCall = Math.min(bestCall, lastCall);
        }
    }

    private static volatile double warmPeak;

    /** The all-core FMA peak, measured once per run, for the warm-up's floor. */
    private static double warmPeak() {
        if (warmPeak == 0) {
            warmPeak = FmaPeak.gflops(3);
        }
        return warmPeak;
    }

    static void call(Shape s, MemorySegment a, MemorySegment b, MemorySegment c) {
        Gemm.sgemm(
                s.transA,
                s.transB,
                s.m,
                s.n,
                s.k,
                1f,
                a,
                0,
                s.transA ? s.m : s.k,
                b,
                0,
                s.transB ? s.k : s.n,
                0f,
                c,
                0,
                s.n);
    }

    static MemorySegment random(Arena arena, long count, long seed) {
        MemorySegment seg = arena.allocate(count * Float.BYTES, 64);
        SplittableRandom rnd = new SplittableRandom(seed);
        for (long i = 0; i < count; i++) {
            seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
        }
        return seg;
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        int n = s.length;
        return n == 0 ? Double.NaN : n % 2 == 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    }

    /**
     * {@code GemmQuick [--tsv] [MxNxK[:NT] ...]}: prints GFLOP/s and the fraction of peak for the given (or default)
     * sizes; with {@code --tsv}, calls timed back to back and one tab-separated line per size (size, median GFLOP/s,
     * best GFLOP/s, all-core FMA peak, fraction of peak) for scripts that set it beside another library's figures.
     */
    public static void main(String[] args) {
        boolean tsv = args.length > 0 && args[0].equals("--tsv");
        List<String> sizes = Arrays.asList(args).subList(tsv ? 1 : 0, args.length);
        List<Shape> shapes;
        try {
            shapes = sizes.isEmpty() ? SHAPES : sizes.stream().map(Shape::parse).toList();
        } catch (IllegalArgumentException e) {
            System.err.println("GemmQuick: " + e.getMessage());
            System.exit(2);
            return;
        }
        double peak = FmaPeak.gflops(8);
        for (Shape s : shapes) {
            // --tsv times calls back to back, as the peer script times its library; else each between two peaks
            Timing t = tsv ? null : measure(s, 1.0, 1.5);
            double[] g = tsv ? measureBackToBack(s, 1.0, 1.5) : t.gflops();
            peak = Math.max(peak, Math.max(tsv ? 0 : t.bestPeak(), FmaPeak.gflops(5)));
            double best = Arrays.stream(g).max().orElse(0);
            if (tsv) {
                System.out.printf(
                        java.util.Locale.ROOT,
                        "%s\t%.1f\t%.1f\t%.1f\t%.3f%n",
                        s,
                        median(g),
                        best,
                        peak,
                        median(g) / peak);
            } else {
                System.out.printf(
                        "%-18s median %7.1f GFLOP/s  (min %.1f max %.1f, %d reps)  peak %.1f  fraction %.3f"
                                + "  (best %.3f, of adjacent peak %.3f)%n",
                        s,
                        median(g),
                        Arrays.stream(g).min().orElse(0),
                        best,
                        g.length,
                        peak,
                        median(g) / peak,
                        best / peak,
                        t.medianAdjacentFraction());
            }
            if (GemmTrace.ON) {
                System.err.println(s + " (-Dfulgur.gemm.trace, the timed calls): " + GemmTrace.summary());
            }
        }
    }
}
