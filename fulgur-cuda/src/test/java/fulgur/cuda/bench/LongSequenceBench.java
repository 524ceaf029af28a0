package fulgur.cuda.bench;

import fulgur.backend.Backends;
import fulgur.cuda.CachingAllocator;
import fulgur.cuda.CudaBackend;
import fulgur.data.Batch;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.train.ChunkPlan;
import fulgur.train.MixedPrecision;
import fulgur.train.TrainStep;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Training steps of TransNormerLLM on one GPU over long sequences walked in chunks ({@code --seq-chunk}: the Trainer's
 * own {@link TrainStep}, so upload, forward, backward, clipping and AdamW), one sequence (B = 1) per step at each length:
 * tokens/s and its ratio to the first length's, the model FLOP utilisation, and the peak device memory of the caching
 * allocator. The boundary states live in host memory, so the device peak should not move with the length. Optional whole-sequence rows ({@code --whole})
 * show where a step without chunks runs out of memory. A length whose step would take longer than {@code --max-row-seconds},
 * or whose steps would not end within {@code --budget-seconds} of the start (estimated from the previous length's
 * tokens/s), is skipped with a row saying so.
 *
 * <pre>java fulgur.cuda.bench.LongSequenceBench [--config 385m|small] [--precision bf16|f32] [--seq-chunk 16384]
 *     [--lengths 16384,65536,262144,1048576,4194304] [--whole 65536] [--steps 2] [--warmup 1] [--max-row-seconds 90]
 *     [--budget-seconds S] [--out DIR]</pre>
 */
public final class LongSequenceBench {
    private LongSequenceBench() {}

    public static void main(String[] args) throws IOException {
        String config = "385m", precision = "bf16", out = null;
        int chunk = 16384, steps = 2, warmup = 1;
        double maxRowSeconds = 90;
        double budget = Double.POSITIVE_INFINITY;
        int[] lengths = {16384, 65536, 262144, 1048576, 4194304};
        int[] whole = {};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--config" -> config = args[++i];
                case "--precision" -> precision = args[++i];
                case "--seq-chunk" -> chunk = Integer.parseInt(args[++i]);
                case "--lengths" -> lengths = ints(args[++i]);
                case "--whole" -> whole = ints(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--max-row-seconds" -> maxRowSeconds = Double.parseDouble(args[++i]);
                case "--budget-seconds" -> budget = Double.parseDouble(args[++i]);
                case "--out" -> out = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        TnlConfig cfg = config.equals("385m") ? TnlConfig.tnl385m() : TnlConfig.small(4096, 512, 4, 4);
        Device gpu = Device.cuda(0);
        CudaBackend be = (CudaBackend) Backends.of(gpu);
        long t0 = System.nanoTime();
        TnlModel model = new TnlModel(cfg, 1234);
        model.to(gpu);
        MixedPrecision mp = precision.equals("bf16") ? MixedPrecision.bf16(model) : null;
        List<ParamGroup> groups = ParamGroup.decayAndNoDecay(model, 0.1);
        AdamW opt = new AdamW(mp != null ? mp.masterGroups(groups) : groups, 3e-4, 0.9, 0.95, 1e-8);
        be.synchronize();
        System.out.printf(
                Locale.ROOT,
                "model %s: %,d parameters on %s (%s), built and moved in %.1f s; chunks of %,d tokens%n",
                config,
                model.parameterCount(),
                be.context().device(),
                precision,
                (System.nanoTime() - t0) / 1e9,
                chunk);
        long params = model.parameterCount();
        Rng rng = new Rng(99);
        StringBuilder report = new StringBuilder();
        double firstTps = Double.NaN;
        double lastTps = Double.NaN;
        try (TrainStep chunked = new TrainStep(model, mp, opt, 1.0, 1, false, chunk)) {
            for (int li = 0; li < lengths.length; li++) {
                int t = lengths[li];
                int n = new ChunkPlan(t, chunk).count();
                int rowSteps =
                        t >= (1 << 20) ? 1 : steps; // one timed step from 1M tokens on: each is many chunks already
                double left = budget - (System.nanoTime() - t0) / 1e9;
                if (!Double.isNaN(lastTps) && (t / lastTps > maxRowSeconds || t / lastTps * rowSteps > left)) {
                    String row = String.format(
                            Locale.ROOT,
                            "| %s | %,d | chunks of %,d | %d | skipped: a step would take about %.0f s (from the previous row), %.0f s of"
                                    + " the time budget left |",
                            config,
                            t,
                            chunk,
                            n,
                            t / lastTps,
                            left);
                    System.out.println(row);
                    report.append(row).append('\n');
                    continue;
                }
                Row r = measure(be, chunked, rng, cfg.vocabSize(), t, li == 0 ? warmup : 0, rowSteps);
                if (r.failure == null) {
                    lastTps = t / r.median;
                    if (Double.isNaN(firstTps)) {
                        firstTps = lastTps;
                    }
                }
                String row = r.failure != null
                        ? String.format(
                                Locale.ROOT,
                                "| %s | %,d | chunks of %,d | %d | failed: %s |",
                                config,
                                t,
                                chunk,
                                n,
                                r.failure)
                        : String.format(
                                Locale.ROOT,
                                "| %s | %,d | chunks of %,d | %d | %.2f s %s | %,.0f | %.1f%% | %.2f× | %.2f GiB (reserved %.2f) | %.3f |",
                                config,
                                t,
                                chunk,
                                n,
                                r.median,
                                Arrays.toString(r.times),
                                t / r.median,
                                mfu(params, t / r.median),
                                t / r.median / firstTps,
                                r.peakInUse / 1073741824.0,
                                r.peakReserved / 1073741824.0,
                                r.loss);
                System.out.println(row);
                report.append(row).append('\n');
                be.context().allocator().emptyCache();
            }
        }
        for (int t : whole) {
            if ((System.nanoTime() - t0) / 1e9 > budget) {
                String row = String.format(
                        Locale.ROOT,
                        "| %s | %,d | whole sequence | 1 | skipped: the time budget is spent |",
                        config,
                        t);
                System.out.println(row);
                report.append(row).append('\n');
                continue;
            }
            try (TrainStep plain = new TrainStep(model, mp, opt, 1.0, 1, false, 0)) {
                Row r = measure(be, plain, rng, cfg.vocabSize(), t, 0, 1);
                String row = r.failure != null
                        ? String.format(
                                Locale.ROOT, "| %s | %,d | whole sequence | 1 | failed: %s |", config, t, r.failure)
                        : String.format(
                                Locale.ROOT,
                                "| %s | %,d | whole sequence | 1 | %.2f s | %,.0f | %.1f%% | %.2f× | %.2f GiB (reserved %.2f) | %.3f |",
                                config,
                                t,
                                r.median,
                                t / r.median,
                                mfu(params, t / r.median),
                                t / r.median / firstTps,
                                r.peakInUse / 1073741824.0,
                                r.peakReserved / 1073741824.0,
                                r.loss);
                System.out.println(row);
                report.append(row).append('\n');
            }
            be.context().allocator().emptyCache();
        }
        String header =
                "| model | T (B = 1) | mode | chunks | step (median, each) | tokens/s | MFU | vs first row | peak device memory (allocator) | loss |\n"
                        + "|---|---:|---|---:|---|---:|---:|---:|---|---:|\n";
        System.out.println("=== fulgur TNL training on long sequences ("
                + be.context().device() + ", " + precision + ")\n" + header + report);
        if (out != null) {
            Files.createDirectories(Path.of(out));
            Files.writeString(Path.of(out, "longseq_" + config + "_" + precision + ".md"), header + report);
        }
    }

    /**
     * Model FLOP utilisation in percent, 6 · params · tokens/s over the dense bf16 peak as in {@link TnlTrainBench}: the
     * chunked step's extra forward of the layers (under 2 · params · tokens more) is not counted: its hardware utilisation is up
     * to 4/3 of this.
     */
    static double mfu(long params, double tokensPerSecond) {
        return 600.0 * params * tokensPerSecond / TnlTrainBench.PEAK;
    }

    record Row(double median, double[] times, long peakInUse, long peakReserved, double loss, String failure) {}

    /** {@code warmup} untimed steps, then {@code steps} timed ones at T = t, B = 1; the allocator's peaks of the timed steps. */
    static Row measure(CudaBackend be, TrainStep step, Rng rng, int vocab, int t, int warmup, int steps) {
        double[] times = new double[steps];
        double loss = Double.NaN;
        try {
            for (int s = -warmup; s < steps; s++) {
                if (s == 0) {
                    be.synchronize();
                    be.context().allocator().resetPeaks();
                }
                Batch b = batch(rng, vocab, t);
                long a = System.nanoTime();
                TrainStep.Outcome o = step.run(List.of(b), 3e-4);
                if (s >= 0) {
                    times[s] = (System.nanoTime() - a) / 1e9;
                }
                loss = o.loss();
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            String m = e.getMessage() == null ? e.toString() : e.getMessage();
            return new Row(Double.NaN, times, 0, 0, Double.NaN, m.length() > 160 ? m.substring(0, 160) + "…" : m);
        }
        CachingAllocator.Report mem = be.memoryReport();
        return new Row(TnlTrainBench.median(times), times, mem.peakInUseBytes(), mem.peakReservedBytes(), loss, null);
    }

    /** One sequence of t + 1 random tokens: inputs and targets shifted by one. */
    static Batch batch(Rng rng, int vocab, int t) {
        long stream = rng.nextStream();
        int[] in = new int[t];
        int[] tg = new int[t];
        int prev = (int) Math.floorMod(Rng.bits(stream, 0), (long) vocab);
        for (int i = 0; i < t; i++) {
            in[i] = prev;
            prev = (int) Math.floorMod(Rng.bits(stream, i + 1), (long) vocab);
            tg[i] = prev;
        }
        return new Batch(1, t, in, tg);
    }

    static int[] ints(String csv) {
        List<Integer> l = new ArrayList<>();
        for (String s : csv.split(",")) {
            if (!s.isBlank()) {
                l.add(Integer.parseInt(s.trim()));
            }
        }
        return l.stream().mapToInt(Integer::intValue).toArray();
    }
}
