package fulgur.cuda.bench;

import fulgur.backend.Backends;
import fulgur.cuda.CudaBackend;
import fulgur.data.Batch;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.train.MixedPrecision;
import fulgur.train.TrainStep;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * The training loop's step ({@link TrainStep}: batch upload, forward, backward, clipping, AdamW, bf16 copies, loss
 * read back) eager against captured as a CUDA graph, same model and batches, in one process: wall time per step
 * between host reads of the loss (which synchronize), median after warm-up. Sizes from a small TransNormerLLM, where
 * the host's per-launch work dominates, to the 385M configuration.
 *
 * <pre>java fulgur.cuda.bench.GraphStepBench [--runs NAME:T:B,...] [--steps 20] [--warmup 3] [--out DIR]
 *   NAME is 385m or small-DIM-LAYERS (vocabulary 4096)</pre>
 */
public final class GraphStepBench {
    private GraphStepBench() {}

    public static void main(String[] args) throws IOException {
        String runs = "small-256-2:256:8,small-512-4:512:8,small-1024-8:1024:8,385m:2048:8";
        String out = null;
        int steps = 20, warmup = 3;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--runs" -> runs = args[++i];
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--out" -> out = args[++i];
                default ->
                    throw new IllegalArgumentException(
                            "unknown argument " + args[i] + " (expected --runs, --steps, --warmup, --out)");
            }
        }
        Device gpu = Device.cuda(0);
        CudaBackend be = (CudaBackend) Backends.of(gpu);
        StringBuilder table = new StringBuilder(
                "| model | params | T × B | eager step | graph step | eager tokens/s | graph tokens/s | "
                        + "graph / eager time | loss (eager, graph) | graph pool |\n|---|---:|---|---:|---:|---:|---:|---:|---|---:|\n");
        for (String run : runs.split(",")) {
            String[] p = run.split(":");
            TnlConfig cfg = config(p[0]);
            int t = Integer.parseInt(p[1]), b = Integer.parseInt(p[2]);
            double[][] times = new double[2][];
            double[] lastLoss = new double[2];
            long pool = 0, params = 0;
            for (int mode = 0; mode < 2; mode++) {
                boolean graph = mode == 1;
                try (TnlModel model = new TnlModel(cfg, 1234)) {
                    model.to(gpu);
                    params = model.parameterCount();
                    MixedPrecision mp = MixedPrecision.bf16(model);
                    AdamW opt =
                            new AdamW(mp.masterGroups(ParamGroup.decayAndNoDecay(model, 0.1)), 3e-4, 0.9, 0.95, 1e-8);
                    Rng rng = new Rng(99); // the same batches in both modes
                    try (TrainStep step = new TrainStep(model, mp, opt, 1.0, 1, graph)) {
                        times[mode] = new double[steps];
                        for (int s = -warmup; s < steps; s++) {
                            List<Batch> batch = List.of(batch(rng, cfg.vocabSize(), b, t));
                            long a = System.nanoTime();
                            TrainStep.Outcome o = step.run(batch, 3e-4);
                            long e = System.nanoTime();
                            if (s >= 0) times[mode][s] = (e - a) / 1e9;
                            lastLoss[mode] = o.loss();
                        }
                        if (graph) pool = step.graphPoolBytes();
                    }
                    opt.release();
                    mp.close();
                }
                be.context().allocator().emptyCache();
            }
            double eager = median(times[0]), graph = median(times[1]);
            long tokens = (long) t * b;
            String line = String.format(
                    Locale.ROOT,
                    "| %s | %,d | %d × %d | %.2f ms | %.2f ms | %,.0f | %,.0f | **%.2f×** | %.4f, %.4f | %.2f GiB |",
                    p[0],
                    params,
                    t,
                    b,
                    eager * 1e3,
                    graph * 1e3,
                    tokens / eager,
                    tokens / graph,
                    graph / eager,
                    lastLoss[0],
                    lastLoss[1],
                    pool / 1073741824.0);
            System.out.println(line + "   eager " + Arrays.toString(times[0]) + " graph " + Arrays.toString(times[1]));
            table.append(line).append('\n');
        }
        System.out.println("=== TrainStep eager vs CUDA graph (" + be.context().device() + ")\n" + table);
        if (out != null) {
            Files.createDirectories(Path.of(out));
            Files.writeString(Path.of(out, "graph_step.md"), table.toString());
        }
    }

    static TnlConfig config(String name) {
        if (name.equals("385m")) return TnlConfig.tnl385m();
        String[] p = name.split("-");
        if (p.length != 3 || !p[0].equals("small"))
            throw new IllegalArgumentException("model must be 385m or small-DIM-LAYERS, got " + name);
        int dim = Integer.parseInt(p[1]);
        return TnlConfig.small(4096, dim, Integer.parseInt(p[2]), Math.max(1, dim / 128));
    }

    static Batch batch(Rng rng, int vocab, int b, int t) {
        long stream = rng.nextStream();
        int[] in = new int[b * t], tg = new int[b * t];
        for (int i = 0; i < in.length; i++) {
            in[i] = (int) Math.floorMod(Rng.bits(stream, 2L * i), (long) vocab);
            tg[i] = (int) Math.floorMod(Rng.bits(stream, 2L * i + 1), (long) vocab);
        }
        return new Batch(b, t, in, tg);
    }

    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
