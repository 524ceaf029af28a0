package fulgur.bench;

import fulgur.backend.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Locale;

/**
 * The round trip of the CPU worker pool ({@link Parallel}), in µs per call: an empty {@code forChunks(threads,
 * threads)} called back to back (with empty chunks the caller often runs them all before a worker comes), the same
 * after 1 ms idle (the workers have parked, so the call pays for waking them), {@code threads} chunks of 2 µs
 * busy-waiting each (2 µs when every thread takes one, {@code threads} × 2 µs when the caller runs them all), and a
 * decoding GEMV ({@code 1x3072x768:NT}, 9.4 MB of weights) back to back. Each round times calls for
 * {@code --seconds} per case (the cases in turn, so a shared machine loads them alike) and keeps the median call; the
 * figures are medians over {@code --rounds}. Run it from two builds alternately to compare pools:
 * {@code PoolQuick [--rounds 5] [--seconds 0.3]}.
 */
final class PoolQuick {

    private PoolQuick() {}

    public static void main(String[] args) {
        int rounds = 5;
        double seconds = 0.3;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--rounds" -> rounds = Integer.parseInt(args[i + 1]);
                case "--seconds" -> seconds = Double.parseDouble(args[i + 1]);
                default -> throw new IllegalArgumentException("PoolQuick [--rounds 5] [--seconds 0.3]; got " + args[i]);
            }
        }
        int threads = Parallel.threads();
        GemmQuick.Shape gemv = GemmQuick.Shape.parse("1x3072x768:NT");
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = GemmQuick.random(arena, (long) gemv.m() * gemv.k(), 1);
            MemorySegment b = GemmQuick.random(arena, (long) gemv.k() * gemv.n(), 2);
            MemorySegment c = arena.allocate((long) gemv.m() * gemv.n() * Float.BYTES, 64);
            GemmQuick.warmUp(gemv, a, b, c, 1.0);
            Runnable empty = () -> Parallel.forChunks(threads, threads, (s, e) -> {});
            Runnable busy = () -> Parallel.forChunks(threads, threads, (s, e) -> {
                for (long t0 = System.nanoTime(); System.nanoTime() - t0 < 2_000; ) {
                    Thread.onSpinWait();
                }
            });
            Runnable product = () -> GemmQuick.call(gemv, a, b, c);
            String[] names = {
                "empty forChunks", "empty forChunks after 1 ms idle", "forChunks of 2 us chunks", "gemv 1x3072x768:NT"
            };
            double[][] perRound = new double[names.length][rounds];
            for (int i = 0; i < 20_000; i++) {
                empty.run();
            }
            for (int r = 0; r < rounds; r++) {
                perRound[0][r] = medianMicros(empty, 0, seconds);
                perRound[1][r] = medianMicros(empty, 1_000_000, seconds);
                perRound[2][r] = medianMicros(busy, 0, seconds);
                perRound[3][r] = medianMicros(product, 0, seconds);
            }
            System.out.printf(Locale.ROOT, "threads %d, %d rounds of %.2f s per case%n", threads, rounds, seconds);
            for (int i = 0; i < names.length; i++) {
                System.out.printf(
                        Locale.ROOT,
                        "%-32s median %8.2f µs/call  (rounds: %s)%n",
                        names[i],
                        GemmQuick.median(perRound[i]),
                        Arrays.stream(perRound[i])
                                .mapToObj(v -> String.format(Locale.ROOT, "%.2f", v))
                                .toList());
            }
        }
    }

    /** The median µs of single calls over {@code seconds}, each after {@code idleNanos} of sleep when that is > 0. */
    private static double medianMicros(Runnable call, long idleNanos, double seconds) {
        double[] t = new double[1 << 16];
        int n = 0;
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (n < t.length && (n < 5 || System.nanoTime() < end)) {
            if (idleNanos > 0) {
                java.util.concurrent.locks.LockSupport.parkNanos(idleNanos);
            }
            long t0 = System.nanoTime();
            call.run();
            t[n++] = (System.nanoTime() - t0) / 1e3;
        }
        return GemmQuick.median(Arrays.copyOf(t, n));
    }
}
