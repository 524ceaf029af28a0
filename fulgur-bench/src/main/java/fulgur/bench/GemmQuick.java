package fulgur.bench;

import fulgur.backend.cpu.Gemm;
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
 * The {@code gemm} quick benchmark: f32 {@link Gemm#sgemm} (no transposes, alpha 1, beta 0) at 1024³ and
 * 4096×4096×1024, in GFLOP/s (2·m·n·k per call) as the median of several timed calls after a warm-up, with the
 * FMA peak measured in the same run and the fractions:
 * <ul>
 *   <li>{@code fraction_of_peak}: median GFLOP/s over the best all-core peak of the run (the headline figure);</li>
 *   <li>{@code fraction_of_peak_best}: the best call over that peak;</li>
 *   <li>{@code fraction_of_adjacent_peak}: the median, over calls, of each call's GFLOP/s over a short peak
 *       measurement taken right before and after it (the better of the two). On a machine shared with other work
 *       this is the figure that tells the kernel's efficiency apart from the cores it was not given.</li>
 * </ul>
 */
final class GemmQuick {

    /** One GEMM shape. */
    record Shape(int m, int n, int k) {
        static Shape parse(String s) {
            String[] p = s.toLowerCase(java.util.Locale.ROOT).split("x");
            if (p.length != 3) {
                throw new IllegalArgumentException("a GEMM size is MxNxK, e.g. 1024x1024x1024; got '" + s + "'");
            }
            return new Shape(Integer.parseInt(p[0].trim()), Integer.parseInt(p[1].trim()), Integer.parseInt(p[2].trim()));
        }

        double flops() {
            return 2.0 * m * n * k;
        }

        @Override
        public String toString() {
            return m + "x" + n + "x" + k;
        }
    }

    static final List<Shape> SHAPES = List.of(new Shape(1024, 1024, 1024), new Shape(4096, 4096, 1024));

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
            Timing t = measure(s, 1.5, 2.0);
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
     * Times {@code sgemm} on random operands: calls for at least {@code warmupSeconds} (and 3 calls) untimed, then
     * at least 5 timed calls and {@code timedSeconds}, each between two short peak measurements.
     */
    static Timing measure(Shape s, double warmupSeconds, double timedSeconds) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) s.m * s.k, 1);
            MemorySegment b = random(arena, (long) s.k * s.n, 2);
            MemorySegment c = arena.allocate((long) s.m * s.n * Float.BYTES, 64);
            long start = System.nanoTime();
            for (int i = 0; i < 3 || System.nanoTime() - start < warmupSeconds * 1e9; i++) {
                call(s, a, b, c);
            }
            double[] g = new double[64];
            double[] p = new double[64];
            int n = 0;
            start = System.nanoTime();
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

    static void call(Shape s, MemorySegment a, MemorySegment b, MemorySegment c) {
        Gemm.sgemm(false, false, s.m, s.n, s.k, 1f, a, 0, s.k, b, 0, s.n, 0f, c, 0, s.n);
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

    /** {@code GemmQuick [MxNxK ...]}: prints GFLOP/s and the fraction of peak for the given (or default) sizes. */
    public static void main(String[] args) {
        List<Shape> shapes = args.length == 0 ? SHAPES : Arrays.stream(args).map(Shape::parse).toList();
        double peak = FmaPeak.gflops(8);
        for (Shape s : shapes) {
            Timing t = measure(s, 1.0, 1.5);
            double[] g = t.gflops();
            peak = Math.max(peak, Math.max(t.bestPeak(), FmaPeak.gflops(5)));
            System.out.printf("%-16s median %7.1f GFLOP/s  (min %.1f max %.1f, %d reps)  peak %.1f  fraction %.3f"
                            + "  (best %.3f, of adjacent peak %.3f)%n",
                    s, median(g), Arrays.stream(g).min().orElse(0), Arrays.stream(g).max().orElse(0), g.length,
                    peak, median(g) / peak, Arrays.stream(g).max().orElse(0) / peak, t.medianAdjacentFraction());
        }
    }
}
