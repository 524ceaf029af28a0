package fulgur.ops.lightning;

import static fulgur.ops.lightning.LightningTestSupport.f32;
import static fulgur.ops.lightning.LightningTestSupport.randomF32;

import fulgur.backend.cpu.Parallel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Quick wall-clock timing of the chunked kernels (and optionally the naive oracle), no JMH. Not a test.
 * Run: {@code java --add-modules jdk.incubator.vector -cp <classes>:<test-classes> fulgur.ops.lightning.LightningTiming
 * [B H d e T... [--naive]]}. Also callable from a benchmark harness through {@link #time}.
 */
public final class LightningTiming {

    private LightningTiming() {}

    /**
     * Seconds for chunked forward and backward: {median wall fwd, median wall bwd, min calling-thread CPU fwd,
     * min calling-thread CPU bwd}. With one thread ({@code FULGUR_THREADS=1}) the CPU times measure the kernel
     * itself even on a machine shared with other work.
     */
    public static double[] time(LightningShape sh, int block, int warmup, int reps) {
        SplittableRandom rnd = new SplittableRandom(1);
        double[] slopes = LightningDecay.tnlSlopes(sh.heads(), 0, 2);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, sh.qkElements(), 1, rnd), k = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, sh.voElements(), 1, rnd), g = randomF32(arena, sh.voElements(), 1, rnd);
            MemorySegment o = f32(arena, sh.voElements()), sT = f32(arena, sh.stateElements(sh.batch()));
            MemorySegment dq = f32(arena, sh.qkElements()), dk = f32(arena, sh.qkElements());
            MemorySegment dv = f32(arena, sh.voElements());
            double[] fwd = new double[reps],
                    bwd = new double[reps],
                    fwdCpu = new double[reps],
                    bwdCpu = new double[reps];
            ThreadMXBean mx = ManagementFactory.getThreadMXBean();
            for (int r = -warmup; r < reps; r++) {
                long c0 = mx.getCurrentThreadCpuTime(), t0 = System.nanoTime();
                LightningChunked.forward(sh, q, k, v, slopes, 1.0, block, null, null, o, sT);
                long c1 = mx.getCurrentThreadCpuTime(), t1 = System.nanoTime();
                LightningChunked.backward(sh, q, k, v, slopes, 1.0, block, null, null, g, null, dq, dk, dv, null);
                long c2 = mx.getCurrentThreadCpuTime(), t2 = System.nanoTime();
                if (r >= 0) {
                    fwd[r] = (t1 - t0) * 1e-9;
                    bwd[r] = (t2 - t1) * 1e-9;
                    fwdCpu[r] = (c1 - c0) * 1e-9;
                    bwdCpu[r] = (c2 - c1) * 1e-9;
                }
            }
            for (double[] x : new double[][] {fwd, bwd, fwdCpu, bwdCpu}) {
                Arrays.sort(x);
            }
            return new double[] {fwd[reps / 2], bwd[reps / 2], fwdCpu[0], bwdCpu[0]};
        }
    }

    /** Seconds of one naive forward + backward (f32 entry points, f64 inside). */
    public static double timeNaive(LightningShape sh) {
        SplittableRandom rnd = new SplittableRandom(1);
        double[] slopes = LightningDecay.tnlSlopes(sh.heads(), 0, 2);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, sh.qkElements(), 1, rnd), k = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, sh.voElements(), 1, rnd), g = randomF32(arena, sh.voElements(), 1, rnd);
            MemorySegment o = f32(arena, sh.voElements());
            MemorySegment dq = f32(arena, sh.qkElements()), dk = f32(arena, sh.qkElements());
            MemorySegment dv = f32(arena, sh.voElements());
            long t0 = System.nanoTime();
            LightningNaive.forward(sh, q, k, v, slopes, 1.0, null, null, o, null);
            LightningNaive.backward(sh, q, k, v, slopes, 1.0, null, null, g, null, dq, dk, dv, null);
            return (System.nanoTime() - t0) * 1e-9;
        }
    }

    public static void main(String[] args) {
        int b = 1, h = 4, d = 64, e = 64;
        int[] lengths = {512, 2048, 8192};
        boolean naive = Arrays.asList(args).contains("--naive");
        String[] nums = Arrays.stream(args).filter(s -> !s.startsWith("--")).toArray(String[]::new);
        if (nums.length >= 5) {
            b = Integer.parseInt(nums[0]);
            h = Integer.parseInt(nums[1]);
            d = Integer.parseInt(nums[2]);
            e = Integer.parseInt(nums[3]);
            lengths = Arrays.stream(nums, 4, nums.length)
                    .mapToInt(Integer::parseInt)
                    .toArray();
        }
        System.out.printf("threads=%d lanes=%d%n", Parallel.threads(), Tiles.L);
        for (int t : lengths) {
            LightningShape sh = new LightningShape(b, t, h, d, e);
            int reps = Math.max(5, 40 * 512 / t);
            double[] c = time(sh, LightningChunked.DEFAULT_BLOCK, 2 * reps, reps);
            String line = String.format(
                    "B=%d H=%d d=%d e=%d T=%d  chunked wall fwd %.2f bwd %.2f fwd+bwd %.2f ms"
                            + " | caller-thread cpu fwd %.2f bwd %.2f ms",
                    b, h, d, e, t, c[0] * 1e3, c[1] * 1e3, (c[0] + c[1]) * 1e3, c[2] * 1e3, c[3] * 1e3);
            if (naive) {
                line += String.format("  naive fwd+bwd %.0f ms", timeNaive(sh) * 1e3);
            }
            System.out.println(line);
        }
    }
}
