package fulgur.cuda.ops;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaEvent;
import fulgur.cuda.CudaStream;
import fulgur.cuda.KernelProfiler;
import fulgur.cuda.ops.conv.ShortConvLauncher;
import fulgur.cuda.ops.gla.GlaLauncher;
import fulgur.cuda.ops.lcsm.LcsmLauncher;
import fulgur.cuda.ops.lightnet.LightNetLauncher;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Micro-benchmark of the op-family kernels at the zoo's shapes: CUDA events around each call on the launchers'
 * stream, 3 warm-ups, the median of {@code --reps} runs (default 10) in each of {@code --rounds} rounds (default 2, the
 * ops alternating between rounds); inputs drawn on the device (uniform, never zero, each tensor above the 50 MB L2 at
 * the large shapes); outputs are freshly allocated and poisoned (NaN) per call and, in the first round, checked for
 * non-finite values after the timed runs. Prints ms per round, the device time of the op's kernels alone (CUDA events
 * around each launch, 3 more calls: "kernels", with the share of each kernel below the row) and the bandwidth achieved
 * on the fewest bytes the op must move (inputs read once, outputs written once) at the best round.
 * <pre>java --enable-native-access=ALL-UNNAMED -cp 'jars/*' fulgur.cuda.ops.ZooKernelsBench [--reps 10] [--rounds 2]
 *     [--only gla,decode,lightnet,conv,lcsm]</pre>
 */
public final class ZooKernelsBench {
    private final CudaContext ctx = CudaContext.get(0);
    private final CudaStream st = CudaStream.create();
    private final DeviceTensors dt = new DeviceTensors(ctx, st, Device.cuda(0)).poison(true);
    private final Map<String, Row> rows = new java.util.LinkedHashMap<>();
    private int reps = 10;
    private boolean checkOutputs = true;

    /** One op's medians per round, its kernels' device time per call and the bytes it must move. */
    private static final class Row {
        final List<Double> ms = new ArrayList<>();
        double kernelMs, bytes;
        String kernels = "";
    }

    public static void main(String[] args) {
        Map<String, String> o = new java.util.LinkedHashMap<>();
        for (int i = 0; i + 1 < args.length; i += 2) o.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        new ZooKernelsBench().run(o);
    }

    private void run(Map<String, String> o) {
        reps = Integer.parseInt(o.getOrDefault("reps", "10"));
        int rounds = Integer.parseInt(o.getOrDefault("rounds", "2"));
        List<String> only = Arrays.asList(
                o.getOrDefault("only", "gla,decode,lightnet,conv,lcsm").split(","));
        System.out.println("device: " + ctx.device());
        int[][] glaShapes = {{8, 2048, 8, 128, 128}, {2, 16384, 8, 128, 128}};
        for (int r = 0; r < rounds; r++) {
            System.out.println("-- round " + (r + 1));
            checkOutputs = r == 0;
            try (Scope s = Scope.open("bench")) {
                if (only.contains("gla")) for (int[] sh : glaShapes) gla(sh[0], sh[1], sh[2], sh[3], sh[4]);
                if (only.contains("decode")) decode(8, 8, 128, 128);
                if (only.contains("lightnet")) for (int[] sh : glaShapes) lightnet(sh[0], sh[1], sh[2], sh[3], sh[4]);
                if (only.contains("conv"))
                    for (int[] sh : new int[][] {{8, 2048, 1024}, {2, 16384, 1024}}) conv(sh[0], sh[1], sh[2], 4);
                if (only.contains("lcsm"))
                    for (int[] sh : new int[][] {{8, 2048, 8, 768}, {2, 16384, 8, 768}})
                        lcsm(sh[0], sh[1], sh[2], sh[3]);
            }
        }
        System.out.println();
        System.out.println("=== fulgur op-family kernels (median ms per round, "
                + ctx.device().name() + ") ===");
        System.out.println(String.format(
                Locale.ROOT,
                "| %-62s | %-21s | %10s | %-26s |",
                "op",
                "ms (rounds)",
                "kernels ms",
                "GB/s at the best round"));
        rows.forEach((name, row) -> {
            StringBuilder ms = new StringBuilder();
            for (double m : row.ms) ms.append(ms.isEmpty() ? "" : " / ").append(String.format(Locale.ROOT, "%.3f", m));
            double best = row.ms.stream().mapToDouble(Double::doubleValue).min().orElse(Double.NaN);
            System.out.println(String.format(
                    Locale.ROOT,
                    "| %-62s | %-21s | %10.3f | %7.0f GB/s (of %.0f MB) |",
                    name,
                    ms,
                    row.kernelMs,
                    row.bytes / (best * 1e6),
                    row.bytes / 1e6));
        });
        System.out.println();
        System.out.println("=== device time per kernel, ms per call ===");
        rows.forEach((name, row) -> System.out.println(name + ": " + row.kernels));
    }

    private Tensor rand(DType type, double lo, double hi, long seed, int... shape) {
        Tensor t = dt.alloc(type, shape);
        String k = type == DType.F32 ? "fill_uniform_f32" : "fill_uniform_bf16";
        ctx.module("util.cu", Map.of())
                .kernel(k)
                .launch(st, 132 * 16, 1, 1, 256, 0, dt.ptr(t, "bench"), t.numel(), seed, (float) lo, (float) hi);
        return t;
    }

    private static double median(float[] xs) {
        float[] c = xs.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : 0.5 * (c[c.length / 2 - 1] + c[c.length / 2]);
    }

    /** Median ms of body (its results closed after each run); the last run's results are checked for non-finite values. */
    private double time(String what, Supplier<Tensor[]> body) {
        for (int i = 0; i < 3; i++) close(body.get());
        float[] ms = new float[reps];
        Tensor[] last = null;
        for (int i = 0; i < reps; i++) {
            CudaEvent a = CudaEvent.create().record(st);
            Tensor[] r = body.get();
            CudaEvent b = CudaEvent.create().record(st);
            b.synchronize();
            ms[i] = b.elapsedSince(a);
            a.close();
            b.close();
            if (i < reps - 1) close(r);
            else last = r;
        }
        long bad = 0;
        for (Tensor t : last) {
            if (t == null || !checkOutputs) continue;
            for (double x : t.to(Device.CPU).toDoubleArray()) if (!Double.isFinite(x)) bad++;
        }
        close(last);
        if (bad > 0) System.out.println("  " + what + ": NON-FINITE OUTPUTS: " + bad);
        return median(ms);
    }

    /** Device ms per call of each kernel body launches (3 calls under the kernel profiler), and their sum. */
    private Object[] kernels(Supplier<Tensor[]> body) {
        ctx.synchronize();
        KernelProfiler.start();
        int calls = 3;
        for (int i = 0; i < calls; i++) close(body.get());
        List<KernelProfiler.Entry> es = KernelProfiler.stop();
        double total = 0;
        StringBuilder sb = new StringBuilder();
        for (KernelProfiler.Entry e : es) total += e.millis() / calls;
        for (KernelProfiler.Entry e : es) {
            sb.append(sb.isEmpty() ? "" : ", ")
                    .append(String.format(Locale.ROOT, "%s %.3f", e.name(), e.millis() / calls));
            if (e.launches() != calls) sb.append(String.format(Locale.ROOT, " (x%d)", e.launches() / calls));
        }
        return new Object[] {total, sb.toString()};
    }

    private static void close(Tensor[] ts) {
        for (Tensor t : ts) if (t != null) t.close();
    }

    private void row(String name, Supplier<Tensor[]> body, double bytes) {
        double ms = time(name, body);
        Object[] k = kernels(body);
        Row r = rows.computeIfAbsent(name, x -> new Row());
        r.ms.add(ms);
        r.kernelMs = (Double) k[0];
        r.kernels = (String) k[1];
        r.bytes = bytes;
        System.out.println(String.format(
                Locale.ROOT,
                "| %-62s | %9.3f ms | kernels %8.3f ms | %7.0f GB/s (of %.0f MB) |",
                name,
                ms,
                r.kernelMs,
                bytes / (ms * 1e6),
                bytes / 1e6));
        System.out.println("    " + r.kernels);
    }

    private void gla(int B, int T, int H, int K, int V) {
        GlaLauncher gk = new GlaLauncher(dt);
        long nk = (long) B * T * H * K, nv = (long) B * T * H * V;
        Tensor q = rand(DType.BF16, -1, 1, 1, B, T, H, K),
                k = rand(DType.BF16, -1, 1, 2, B, T, H, K),
                v = rand(DType.BF16, -1, 1, 3, B, T, H, V);
        Tensor g = rand(DType.F32, -0.5, -0.01, 4, B, T, H, K), dO = rand(DType.BF16, -1, 1, 5, B, T, H, V);
        double scale = 1 / Math.sqrt(K);
        String sh = String.format("B=%d T=%d H=%d K=%d V=%d", B, T, H, K, V);
        row(
                "gla chunk fwd (bf16, g f32) " + sh,
                () -> new Tensor[] {
                    gk.forward(q, k, v, g, scale, null, false, null).output()
                },
                2.0 * (2 * nk + nv) + 4.0 * nk + 2.0 * nv);
        row(
                "gla chunk bwd (bf16, g f32) " + sh,
                () -> {
                    GlaLauncher.Gradients r = gk.backward(q, k, v, g, scale, null, null, dO, null);
                    return new Tensor[] {r.dq(), r.dk(), r.dv(), r.dg()};
                },
                2.0 * (2 * nk + 2 * nv) + 4.0 * nk + 2.0 * (2 * nk + nv) + 4.0 * nk);
        Tensor gb = rand(DType.BF16, -0.5, -0.01, 6, B, T, H, K);
        row(
                "gla chunk fwd (bf16, g bf16) " + sh,
                () -> new Tensor[] {
                    gk.forward(q, k, v, gb, scale, null, false, null).output()
                },
                2.0 * (3 * nk + nv) + 2.0 * nv);
        if (!profiled.contains(sh)) {
            profiled.add(sh);
            phases(gk, sh, () -> {
                close(new Tensor[] {
                    gk.forward(q, k, v, g, scale, null, false, null).output()
                });
                GlaLauncher.Gradients r = gk.backward(q, k, v, g, scale, null, null, dO, null);
                close(new Tensor[] {r.dq(), r.dk(), r.dv(), r.dg()});
            });
        }
        for (Tensor t : new Tensor[] {q, k, v, g, dO, gb}) t.close();
    }

    private final java.util.Set<String> profiled = new java.util.HashSet<>();

    /** The walks' phase boundaries in the order gla.cu's PROF numbers them (a phase is named by where it ends). */
    private static final String[][] PHASES = {
        {"forward", "-", "wait", "transform1", "transform2", "scores", "o+state"},
        {"forward local states", "-", "wait", "transform1", "transform2"},
        {"dq", "-", "slot+wait", "transform1", "transform2", "dP", "dq", "state"},
        {"dk/dv", "-", "W+wait", "transform1", "transform2", "A", "dv", "dP", "dk+W", "G"},
        {"dk/dv local states", "-", "wait", "transform1", "transform2", "-", "-", "-", "-", "G"}
    };

    /** Runs body once with the walks' phase profile on and prints the mean cycles of each phase per block. */
    private void phases(GlaLauncher gk, String sh, Runnable body) {
        long bytes = GlaLauncher.PROFILE_BYTES;
        try (fulgur.cuda.DeviceBuffer buf = dt.scratch(bytes);
                java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            dt.zero(buf, bytes);
            gk.phaseProfile(buf);
            body.run();
            gk.phaseProfile(null);
            ctx.synchronize();
            java.lang.foreign.MemorySegment m = a.allocate(bytes);
            buf.copyToHost(m);
            System.out.println("  phase cycles per block, first CTA, threads 0 | 255 (" + sh + "):");
            for (int w = 0; w < PHASES.length; w++) {
                for (int th = 0; th < 2; th++) {
                    StringBuilder sb = new StringBuilder();
                    double[] sum = new double[16];
                    int blocks = 0;
                    double total = 0, gap = 0;
                    long prevEnd = 0;
                    for (int blk = 0; blk < 1024; blk++) {
                        long base = ((long) w * 2 * 1024 * 16 + ((long) th * 1024 + blk) * 16) * 8;
                        long[] st = new long[16];
                        for (int ph = 0; ph < 16; ph++)
                            st[ph] = m.get(java.lang.foreign.ValueLayout.JAVA_LONG, base + 8L * ph);
                        if (st[0] == 0) break;
                        int last = 0;
                        for (int ph = 1; ph < 16; ph++) {
                            if (st[ph] == 0) continue;
                            sum[ph] += st[ph] - st[last];
                            last = ph;
                        }
                        total += st[last] - st[0];
                        if (prevEnd != 0) gap += st[0] - prevEnd;
                        prevEnd = st[last];
                        blocks++;
                    }
                    if (blocks == 0) continue;
                    for (int ph = 1; ph < PHASES[w].length; ph++) {
                        if (sum[ph] == 0) continue;
                        sb.append(String.format(Locale.ROOT, "%s %.0f | ", PHASES[w][ph], sum[ph] / blocks));
                    }
                    System.out.println(String.format(
                            Locale.ROOT,
                            "    %-20s t%-3d %3d blocks: %stotal %.0f, between blocks %.0f",
                            PHASES[w][0],
                            th == 0 ? 0 : 255,
                            blocks,
                            sb,
                            total / blocks,
                            blocks > 1 ? gap / (blocks - 1) : 0));
                }
            }
        }
    }

    private void decode(int B, int H, int K, int V) {
        GlaLauncher gk = new GlaLauncher(dt);
        Tensor q = rand(DType.BF16, -1, 1, 11, B, 1, H, K),
                k = rand(DType.BF16, -1, 1, 12, B, 1, H, K),
                v = rand(DType.BF16, -1, 1, 13, B, 1, H, V);
        Tensor g = rand(DType.F32, -0.5, -0.01, 14, B, 1, H, K), state = rand(DType.F32, -1, 1, 15, B, H, K, V);
        row(
                String.format("gla decode step (bf16, state f32 in place) B=%d H=%d K=%d V=%d", B, H, K, V),
                () -> new Tensor[] {gk.decode(q, k, v, g, 0.125, state)},
                8.0 * B * H * K * V);
        for (Tensor t : new Tensor[] {q, k, v, g, state}) t.close();
    }

    private void lightnet(int B, int T, int H, int K, int V) {
        LightNetLauncher ln = new LightNetLauncher(dt);
        long nk = (long) B * T * H * K, nv = (long) B * T * H * V;
        Tensor q = rand(DType.BF16, -1, 1, 21, B, T, H, K),
                k = rand(DType.BF16, -2, 2, 22, B, T, H, K),
                v = rand(DType.BF16, -1, 1, 23, B, T, H, V);
        Tensor dO = rand(DType.BF16, -1, 1, 24, B, T, H, V);
        String sh = String.format("B=%d T=%d H=%d K=%d V=%d", B, T, H, K, V);
        row(
                "lightnet fwd (bf16) " + sh,
                () -> new Tensor[] {
                    ln.forward(q, k, v, null, null, 1.0, false, null).output()
                },
                2.0 * (2 * nk + 2 * nv));
        row(
                "lightnet bwd (bf16) " + sh,
                () -> {
                    LightNetLauncher.Gradients r = ln.backward(q, k, v, null, null, 1.0, null, dO, null, null);
                    return new Tensor[] {r.dq(), r.dk(), r.dv()};
                },
                2.0 * (2 * nk + 2 * nv) + 2.0 * (2 * nk + nv));
        for (Tensor t : new Tensor[] {q, k, v, dO}) t.close();
    }

    private void conv(int B, int T, int D, int W) {
        ShortConvLauncher sc = new ShortConvLauncher(dt);
        long n = (long) B * T * D;
        Tensor x = rand(DType.BF16, -1, 1, 31, B, T, D),
                w = rand(DType.BF16, -0.5, 0.5, 32, D, W),
                dy = rand(DType.BF16, -1, 1, 33, B, T, D);
        String sh = String.format("B=%d T=%d D=%d W=%d", B, T, D, W);
        row(
                "short conv fwd (bf16, SiLU) " + sh,
                () -> new Tensor[] {
                    sc.forward(x, w, null, true, null, false, null).y()
                },
                4.0 * n);
        row(
                "short conv bwd (bf16, SiLU) " + sh,
                () -> {
                    ShortConvLauncher.Gradients r = sc.backward(x, w, null, true, null, null, dy, null);
                    return new Tensor[] {r.dx(), r.dWeight()};
                },
                6.0 * n);
        for (Tensor t : new Tensor[] {x, w, dy}) t.close();
    }

    private void lcsm(int B, int T, int k, int d) {
        LcsmLauncher lk = new LcsmLauncher(dt);
        Tensor i = rand(DType.BF16, -1, 1, 41, B, T, d),
                e1 = rand(DType.BF16, -1, 1, 42, B, T, k, 1),
                s1 = rand(DType.BF16, -1, 1, 43, B, T, k, 1);
        Tensor lo = rand(DType.BF16, -1, -0.01, 44, B, T, k, d), dy = rand(DType.BF16, -1, 1, 45, B, T, d);
        Tensor e = Views.expand(e1, B, T, k, d), s = Views.expand(s1, B, T, k, d);
        long nd = (long) B * T * d, nkd = nd * k;
        String sh = String.format("B=%d T=%d k=%d d=%d", B, T, k, d);
        row(
                "lcsm scan fwd (bf16, e/s [B,T,k,1]) " + sh,
                () -> {
                    LcsmLauncher.Output r = lk.forward(i, e, lo, s, null);
                    return new Tensor[] {r.y(), r.finalState()};
                },
                2.0 * (2 * nd + nkd));
        row(
                "lcsm scan bwd (bf16, e/s [B,T,k,1]) " + sh,
                () -> {
                    LcsmLauncher.Gradients r = lk.backward(i, e, lo, s, null, dy, null);
                    return new Tensor[] {r.di(), r.de(), r.dlogO(), r.ds()};
                },
                2.0 * (3 * nd + nkd) + 2.0 * (nd + 3 * nkd));
        for (Tensor t : new Tensor[] {i, e1, s1, lo, dy}) t.close();
    }
}
