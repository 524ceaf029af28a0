package fulgur.bench;

import java.util.Arrays;

/** Median wall time of a body after a warm-up, for the quick benchmarks. */
final class Timing {
    private Timing() {}

    /**
     * Runs body for warmupSeconds and at least minReps times (so the JIT has compiled it), then at least minReps
     * times and until timedSeconds pass; returns seconds per call (median).
     */
    static double medianSeconds(Runnable body, double warmupSeconds, double timedSeconds, int minReps) {
        long warmEnd = System.nanoTime() + (long) (warmupSeconds * 1e9);
        int warm = 0;
        do {
            body.run();
            warm++;
        } while (System.nanoTime() < warmEnd || warm < minReps);
        double[] t = new double[1024];
        int n = 0;
        long end = System.nanoTime() + (long) (timedSeconds * 1e9);
        while ((n < minReps || System.nanoTime() < end) && n < t.length) {
            long t0 = System.nanoTime();
            body.run();
            t[n++] = (System.nanoTime() - t0) / 1e9;
        }
        double[] v = Arrays.copyOf(t, n);
        Arrays.sort(v);
        return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    }
}
