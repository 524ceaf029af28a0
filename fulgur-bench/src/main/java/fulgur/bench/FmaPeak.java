package fulgur.bench;

import fulgur.backend.cpu.Parallel;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * This machine's f32 peak: every thread of the {@link Parallel} pool runs twelve independent vector FMA chains
 * ({@code acc = x·y + acc}, enough to cover the FMA latency on every core we know), nothing else. A GEMM can at
 * best approach this figure, so benchmarks report their throughput as a fraction of it, measured in the same run.
 *
 * <p>Run alone: {@code java --add-modules jdk.incubator.vector -cp fulgur-bench/target/benchmarks.jar
 * fulgur.bench.FmaPeak}.
 */
public final class FmaPeak {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Independent accumulator chains per thread. */
    static final int CHAINS = 12;
    /** Loop trips of one timed call per thread: 12·8·2·4M ≈ 0.8 GFLOP, about 20 ms on one AVX2 core. */
    private static final int ITERATIONS = 4_000_000;

    private static final int WARMUP_ITERATIONS = 20_000;

    private static volatile float sink;

    private FmaPeak() {}

    /** Best of {@code runs} timed runs on all threads of the pool, in GFLOP/s (warm-up excluded). */
    public static double gflops(int runs) {
        return measure(Parallel.threads(), runs);
    }

    /** Best of {@code runs} timed runs on the calling thread only, in GFLOP/s. */
    public static double gflopsOneThread(int runs) {
        return measure(1, runs);
    }

    /**
     * A short all-thread measurement (best of two runs of about 5 ms), taken right before and after each timed
     * call of another benchmark to tell how much of the machine that call had: on a machine shared with other
     * work the peak moves from second to second.
     */
    public static double gflopsQuick() {
        return measure(Parallel.threads(), 2, ITERATIONS / 4);
    }

    private static double measure(int threads, int runs) {
        return measure(threads, runs, ITERATIONS);
    }

    private static double measure(int threads, int runs, int iterations) {
        warmUp();
        double best = 0;
        for (int r = 0; r < runs; r++) {
            long t0 = System.nanoTime();
            if (threads == 1) {
                sink += chains(iterations);
            } else {
                Parallel.forRange(threads, 1, (s, e) -> {
                    float local = 0;
                    for (int t = s; t < e; t++) {
                        local += chains(iterations);
                    }
                    sink += local;
                });
            }
            long t1 = System.nanoTime();
            double flops = (double) threads * iterations * CHAINS * S.length() * 2;
            best = Math.max(best, flops / (t1 - t0));
        }
        return best;
    }

    private static volatile boolean warm;

    /** Gets {@link #chains} compiled by C2 through ordinary calls, not on-stack replacement. */
    private static void warmUp() {
        if (warm) {
            return;
        }
        warm = true;
        float s = 0;
        for (int i = 0; i < 2_000; i++) {
            s += chains(WARMUP_ITERATIONS / 100);
        }
        Parallel.forRange(Parallel.threads(), 1, (a, b) -> sink += chains(WARMUP_ITERATIONS));
        sink += s;
    }

    /** {@value #CHAINS} independent FMA chains of {@code iterations} steps; returns a value that depends on all. */
    static float chains(int iterations) {
        FloatVector x = FloatVector.broadcast(S, 0.999999f);
        FloatVector y = FloatVector.broadcast(S, 1e-7f);
        FloatVector a0 = FloatVector.broadcast(S, 1f), a1 = a0.add(1f), a2 = a0.add(2f), a3 = a0.add(3f);
        FloatVector a4 = a0.add(4f), a5 = a0.add(5f), a6 = a0.add(6f), a7 = a0.add(7f);
        FloatVector a8 = a0.add(8f), a9 = a0.add(9f), a10 = a0.add(10f), a11 = a0.add(11f);
        for (int i = 0; i < iterations; i++) {
            a0 = x.fma(y, a0);
            a1 = x.fma(y, a1);
            a2 = x.fma(y, a2);
            a3 = x.fma(y, a3);
            a4 = x.fma(y, a4);
            a5 = x.fma(y, a5);
            a6 = x.fma(y, a6);
            a7 = x.fma(y, a7);
            a8 = x.fma(y, a8);
            a9 = x.fma(y, a9);
            a10 = x.fma(y, a10);
            a11 = x.fma(y, a11);
        }
        return a0.add(a1)
                .add(a2)
                .add(a3)
                .add(a4)
                .add(a5)
                .add(a6)
                .add(a7)
                .add(a8)
                .add(a9)
                .add(a10)
                .add(a11)
                .reduceLanes(VectorOperators.ADD);
    }

    public static void main(String[] args) {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 10;
        System.out.printf(
                "f32 FMA peak: %.1f GFLOP/s on %d threads (%.1f on one), %d lanes%n",
                gflops(runs), Parallel.threads(), gflopsOneThread(runs), S.length());
    }
}
