package fulgur.dist.sp;

import fulgur.dist.CommOp;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.LocalWorld;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * LASP vs LASP-2 training-step time on the local backend (ranks as threads of this JVM): a TNL model, one step =
 * forward, backward and the gradient all-reduce, the sequence split over W ranks with a fixed number of tokens per
 * rank (weak scaling: the sequence grows with W), and the single-process step on the whole sequence for reference.
 * Prints a Markdown table row per rank count: median step time over the measured steps, and the state
 * communication per rank and step.
 *
 * With {@code --latency-ms} every message and collective of the local backend takes that much longer (a simulated
 * link), which shows what LASP-2 saves: 2 instead of 2(W−1) serial state hops per layer.
 *
 * <pre>java -cp fulgur.jar:fulgur-dist-tests.jar fulgur.dist.sp.SpBenchmark [--ranks 2,4,8] [--tokens-per-rank 512] [--dim 64] [--layers 2]
 *     [--heads 4] [--batch 1] [--steps 5] [--warmup 2] [--latency-ms 0]</pre>
 */
public final class SpBenchmark {
    private SpBenchmark() {}

    public static void main(String[] args) {
        int[] ranks = {2, 4, 8};
        int perRank = 512, dim = 64, layers = 2, heads = 4, batch = 1, steps = 5, warmup = 2;
        double latencyMs = 0;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--ranks" ->
                    ranks = Arrays.stream(v.split(","))
                            .mapToInt(Integer::parseInt)
                            .toArray();
                case "--tokens-per-rank" -> perRank = Integer.parseInt(v);
                case "--dim" -> dim = Integer.parseInt(v);
                case "--layers" -> layers = Integer.parseInt(v);
                case "--heads" -> heads = Integer.parseInt(v);
                case "--batch" -> batch = Integer.parseInt(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                case "--latency-ms" -> latencyMs = Double.parseDouble(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        TnlConfig cfg = TnlConfig.small(256, dim, layers, heads);
        System.out.printf(
                "TNL d=%d, %d layers, %d heads (head dim %d), batch %d, %d tokens per rank; %d warm-up + %d measured steps, median; %d CPU threads;"
                        + " simulated link latency %.1f ms per message / collective%n",
                dim,
                layers,
                heads,
                dim / heads,
                batch,
                perRank,
                warmup,
                steps,
                fulgur.backend.cpu.Parallel.threads(),
                latencyMs);
        Duration latency = Duration.ofNanos((long) (latencyMs * 1e6));
        System.out.println(
                "| ranks | sequence | single process (ms) | LASP (ms) | LASP-2 (ms) | LASP-2 / LASP | serial state hops per layer, LASP / LASP-2 | state KiB received per rank and step (max), LASP / LASP-2 |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|---:|");
        // a discarded round on the largest configuration first: the JIT compiles the kernels (and the Vector API
        // intrinsics) before anything is timed
        int wMax = Arrays.stream(ranks).max().orElse(2);
        measure(cfg, tokens(batch * wMax * perRank), batch, wMax * perRank, wMax, warmup, 1, latency);
        for (int w : ranks) {
            int t = w * perRank;
            int[] ids = tokens(batch * t);
            double[] r = measure(cfg, ids, batch, t, w, warmup, steps, latency);
            System.out.printf(
                    "| %d | %d | %.1f | %.1f | %.1f | %.2f | %d / 2 | %.0f / %.0f |%n",
                    w, t, r[0], r[1], r[2], r[2] / r[1], 2 * (w - 1), r[3] / 1024, r[4] / 1024);
        }
    }

    private static int[] tokens(int n) {
        Random r = new Random(1);
        int[] a = new int[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(256);
        }
        return a;
    }

    /**
     * LASP and LASP-2 interleaved, so that both see the same machine: each round runs a LASP step and a LASP-2 step
     * (every rank, timed as the slowest rank); then the single-process step on the whole sequence. Returns the
     * medians (ms: single, LASP, LASP-2) and the most state bytes a rank received per step (LASP, LASP-2).
     */
    private static double[] measure(
            TnlConfig cfg, int[] ids, int b, int t, int w, int warmup, int steps, Duration latency) {
        List<double[]> res;
        try (LocalWorld world = new LocalWorld(w, Duration.ofMinutes(10), latency)) {
            res = world.runAll(pg -> {
                double[][] times = new double[3][steps]; // [1]: LASP, [2]: LASP-2
                double[] bytes = new double[2];
                SequenceLayout layout = SequenceLayout.even(t, w);
                try (TnlModel m = new TnlModel(cfg, 1);
                        GradientSync sync =
                                new GradientSync(m.parameters(), pg, 1.0, GradientSync.DEFAULT_BUCKET_ELEMENTS)) {
                    var shards = new fulgur.models.SequenceShard[] {
                        SequenceParallel.shard(pg, SpAlgorithm.LASP, layout),
                        SequenceParallel.shard(pg, SpAlgorithm.LASP2, layout)
                    };
                    for (int s = 0; s < warmup + steps; s++) {
                        for (int a = 0; a < 2; a++) {
                            m.zeroGrad();
                            pg.barrier().await();
                            pg.stats().reset();
                            long t0 = System.nanoTime();
                            try (Scope sc = Scope.open()) {
                                Tensor in = SequenceParallel.slice(Tensor.ofInts(ids, b, t), layout, pg.rank());
                                sync.backward(
                                        m.loss(in, in.reshape(-1), shards[a]).mul(1.0 / w));
                            }
                            double ms = slowest(pg, (System.nanoTime() - t0) / 1e6);
                            bytes[a] = slowest(
                                    pg,
                                    pg.stats().bytes(CommOp.ALL_GATHER) * (double) pg.size()
                                            + pg.stats().bytes(CommOp.RECV));
                            if (s >= warmup) {
                                times[a + 1][s - warmup] = ms;
                            }
                        }
                    }
                }
                return new double[] {0, median(times[1]), median(times[2]), bytes[0], bytes[1]};
            });
        }
        double[] r = res.get(0);
        r[0] = singleStep(cfg, ids, b, t, warmup, steps);
        return r;
    }

    /** The single-process step on the whole sequence (all CPU threads), median ms. */
    private static double singleStep(TnlConfig cfg, int[] ids, int b, int t, int warmup, int steps) {
        double[] times = new double[steps];
        try (TnlModel m = new TnlModel(cfg, 1)) {
            for (int s = 0; s < warmup + steps; s++) {
                m.zeroGrad();
                long t0 = System.nanoTime();
                try (Scope sc = Scope.open()) {
                    m.loss(Tensor.ofInts(ids, b, t), Tensor.ofInts(ids, b * t)).backward();
                }
                if (s >= warmup) {
                    times[s - warmup] = (System.nanoTime() - t0) / 1e6;
                }
            }
        }
        return median(times);
    }

    private static double slowest(ProcessGroup pg, double ms) {
        try (Scope s = Scope.open()) {
            Tensor t = Tensor.of(DType.F64, new double[] {ms}, 1);
            pg.allReduce(t, ReduceOp.MAX).await();
            return t.item();
        }
    }

    private static double median(double[] a) {
        double[] c = a.clone();
        Arrays.sort(c);
        return c.length % 2 == 1 ? c[c.length / 2] : (c[c.length / 2 - 1] + c[c.length / 2]) / 2;
    }
}
