package fulgur.cuda.bench;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.cuda.CachingAllocator;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.KernelProfiler;
import fulgur.cuda.driver.CudaDriver;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.MixedPrecision;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Training steps of TransNormerLLM on one GPU through the CUDA backend: forward, backward and AdamW on random tokens
 * (fresh every step), timed by the host clock around synchronized steps (warm-up steps excluded; median of the
 * rest). Reports tokens/s, the peak device memory of the caching allocator, and the implied model FLOP utilisation
 * {@code 6 · params · tokens/s / 989 TFLOP/s} (H100/H200 dense bf16 peak).
 *
 * <pre>java fulgur.cuda.bench.TnlTrainBench [--config 385m|small] [--seq 2048] [--batch 8] [--steps 5] [--warmup 2]
 *     [--precision bf16|tf32|f32] [--out DIR]   (several --seq/--batch pairs: --runs 2048x8,16384x1)</pre>
 */
public final class TnlTrainBench {
    private TnlTrainBench() {}

    static final double PEAK = 989e12;

    public static void main(String[] args) throws IOException {
        String config = "385m", precision = "bf16", out = null, runs = null;
        int seq = 2048, batch = 8, steps = 5, warmup = 2;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--config" -> config = args[++i];
                case "--seq" -> seq = Integer.parseInt(args[++i]);
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--precision" -> precision = args[++i];
                case "--runs" -> runs = args[++i];
                case "--out" -> out = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        List<int[]> shapes = new ArrayList<>();
        if (runs == null) {
            shapes.add(new int[] {seq, batch});
        } else {
            for (String r : runs.split(",")) {
                String[] p = r.split("x");
                shapes.add(new int[] {Integer.parseInt(p[0]), Integer.parseInt(p[1])});
            }
        }
        TnlConfig cfg = config.equals("385m") ? TnlConfig.tnl385m() : TnlConfig.small(4096, 512, 4, 4);
        Device gpu = Device.cuda(0);
        CudaBackend be = (CudaBackend) Backends.of(gpu);
        be.allowTf32(precision.equals("tf32"));
        StringBuilder report = new StringBuilder();
        StringBuilder profiles = new StringBuilder();
        long t0 = System.nanoTime();
        TnlModel model = new TnlModel(cfg, 1234);
        model.to(gpu);
        MixedPrecision mp = precision.equals("bf16") ? MixedPrecision.bf16(model) : null;
        List<ParamGroup> groups = ParamGroup.decayAndNoDecay(model, 0.1);
        AdamW opt = new AdamW(mp != null ? mp.masterGroups(groups) : groups, 3e-4, 0.9, 0.95, 1e-8);
        long params = model.parameterCount();
        be.synchronize();
        System.out.printf(
                Locale.ROOT,
                "model %s: %,d parameters on %s (%s), built and moved in %.1f s%n",
                config,
                params,
                be.context().device(),
                precision,
                (System.nanoTime() - t0) / 1e9);
        Rng rng = new Rng(99);
        for (int[] sh : shapes) {
            int t = sh[0], b = sh[1];
            long tokens = (long) b * t;
            be.context().allocator().resetPeaks();
            double[] times = new double[steps];
            double[] fwd = new double[steps], bwd = new double[steps], optT = new double[steps];
            double loss = Double.NaN;
            String failure = null;
            try {
                for (int s = -warmup; s < steps; s++) {
                    try (Scope step = Scope.open("step")) {
                        Tensor ids = randomTokens(rng, cfg.vocabSize(), b, t).to(gpu);
                        Tensor targets =
                                randomTokens(rng, cfg.vocabSize(), b * t).to(gpu);
                        be.synchronize();
                        long a = System.nanoTime();
                        Tensor l = model.loss(ids, targets);
                        be.synchronize();
                        long f = System.nanoTime();
                        Autograd.backward(
                                l, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS); // as the Trainer does
                        be.synchronize();
                        long g = System.nanoTime();
                        if (mp != null) {
                            mp.step(opt);
                            mp.zeroGrad();
                        } else {
                            opt.step();
                            opt.zeroGrad();
                        }
                        be.synchronize();
                        long e = System.nanoTime();
                        loss = l.item();
                        if (s >= 0) {
                            times[s] = (e - a) / 1e9;
                            fwd[s] = (f - a) / 1e9;
                            bwd[s] = (g - f) / 1e9;
                            optT[s] = (e - g) / 1e9;
                        }
                    }
                }
            } catch (RuntimeException | OutOfMemoryError ex) {
                failure = ex.toString();
                System.out.println("T=" + t + " B=" + b + " failed: " + ex);
                ex.printStackTrace(System.out);
            }
            String profile = failure == null ? profileStep(be, model, mp, opt, rng, cfg, gpu, b, t) : "";
            CachingAllocator.Report mem = be.memoryReport();
            long[] info = CudaDriver.get().memGetInfo();
            String line;
            if (failure != null) {
                line = String.format(
                        Locale.ROOT, "| %s | %s | %d | %d | failed: %s |", config, precision, t, b, failure);
            } else {
                double med = median(times);
                double tps = tokens / med;
                double mfu = 6.0 * params * tps / PEAK;
                line = String.format(
                        Locale.ROOT,
                        "| %s | %s | %d | %d | %,d | %.1f ms (fwd %.1f, bwd %.1f, opt %.1f) | %,.0f | %.1f%% | %.2f GiB (reserved %.2f) | %.3f |",
                        config,
                        precision,
                        t,
                        b,
                        tokens,
                        med * 1e3,
                        median(fwd) * 1e3,
                        median(bwd) * 1e3,
                        median(optT) * 1e3,
                        tps,
                        mfu * 100,
                        mem.peakInUseBytes() / 1073741824.0,
                        mem.peakReservedBytes() / 1073741824.0,
                        loss);
                System.out.printf(
                        Locale.ROOT,
                        "T=%d B=%d: step times %s s; device memory free/total %.1f/%.1f GiB%n",
                        t,
                        b,
                        Arrays.toString(times),
                        info[0] / 1073741824.0,
                        info[1] / 1073741824.0);
            }
            System.out.println(line);
            report.append(line).append('\n');
            profiles.append(profile);
            be.context().allocator().emptyCache();
        }
        String header =
                "| model | precision | T | B | tokens/step | step (median) | tokens/s | MFU | peak memory (allocator) | loss |\n"
                        + "|---|---|---|---|---|---|---|---|---|---|\n";
        System.out.println(profiles);
        System.out.println("=== fulgur TNL training step (" + be.context().device() + ")\n" + header + report);
        if (out != null) {
            Files.createDirectories(Path.of(out));
            Files.writeString(
                    Path.of(out, "tnl_train_" + config + "_" + precision + ".md"), header + report + "\n" + profiles);
        }
    }

    /** One more step with every launch timed by CUDA events: device time per kernel against the step's wall time. */
    static String profileStep(
            CudaBackend be,
            TnlModel model,
            MixedPrecision mp,
            AdamW opt,
            Rng rng,
            TnlConfig cfg,
            Device gpu,
            int b,
            int t) {
        try (Scope step = Scope.open("profiled")) {
            Tensor ids = randomTokens(rng, cfg.vocabSize(), b, t).to(gpu);
            Tensor targets = randomTokens(rng, cfg.vocabSize(), b * t).to(gpu);
            be.synchronize();
            KernelProfiler.start();
            long a = System.nanoTime();
            Tensor l = model.loss(ids, targets);
            Autograd.backward(l, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS); // as the Trainer does
            if (mp != null) {
                mp.step(opt);
                mp.zeroGrad();
            } else {
                opt.step();
                opt.zeroGrad();
            }
            be.synchronize();
            double wall = (System.nanoTime() - a) / 1e6;
            return kernelTable(
                    String.format(Locale.ROOT, "profiled step T=%d B=%d", t, b),
                    wall,
                    KernelProfiler.stop(),
                    Integer.getInteger("fulgur.bench.profileRows", 30));
        }
    }

    /**
     * "TITLE: wall W ms (events on), device busy D ms in N launches" and a markdown table of the {@code rows} kernels
     * with the most device time (name, device ms, launches, share of the device time).
     */
    static String kernelTable(String title, double wall, List<KernelProfiler.Entry> es, int rows) {
        double total = es.stream().mapToDouble(KernelProfiler.Entry::millis).sum();
        int launches = es.stream().mapToInt(KernelProfiler.Entry::launches).sum();
        StringBuilder sb = new StringBuilder(String.format(
                Locale.ROOT,
                "%s: wall %.1f ms (events on), device busy %.1f ms in %d launches%n",
                title,
                wall,
                total,
                launches));
        sb.append("| kernel | device ms | launches | share |\n|---|---:|---:|---:|\n");
        for (KernelProfiler.Entry e : es.subList(0, Math.min(rows, es.size()))) {
            sb.append(String.format(
                    Locale.ROOT,
                    "| %s | %.2f | %d | %.1f%% |%n",
                    e.name(),
                    e.millis(),
                    e.launches(),
                    100 * e.millis() / total));
        }
        return sb.toString();
    }

    static Tensor randomTokens(Rng rng, int vocab, int... shape) {
        long n = 1;
        for (int s : shape) n *= s;
        long stream = rng.nextStream();
        int[] v = new int[(int) n];
        for (int i = 0; i < n; i++) v[i] = (int) Math.floorMod(Rng.bits(stream, i), (long) vocab);
        return Tensor.ofInts(v, shape);
    }

    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length == 0 ? Double.NaN : s[s.length / 2];
    }
}
