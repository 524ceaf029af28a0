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
 * <pre>java -cp fulgur.jar fulgur.dist.sp.SpBenchmark [--ranks 2,4,8] [--tokens-per-rank 512] [--dim 64] [--layers 2]
 *     [--heads 4] [--batch 1] [--steps 5] [--warmup 2]</pre>
 */
public final class SpBenchmark {
    private SpBenchmark() {}

    public static void main(String[] args) {
        int[] ranks = {2, 4, 8};
        int perRank = 512, dim = 64, layers = 2, heads = 4, batch = 1, steps = 5, warmup = 2;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--ranks" -> ranks = Arrays.stream(v.split(",")).mapToInt(Integer::parseInt).toArray();
                case "--tokens-per-rank" -> perRank = Integer.parseInt(v);
                case "--dim" -> dim = Integer.parseInt(v);
                case "--layers" -> layers = Integer.parseInt(v);
                case "--heads" -> heads = Integer.parseInt(v);
                case "--batch" -> batch = Integer.parseInt(v);
                case "--steps" -> steps = Integer.parseInt(v);
                case "--warmup" -> warmup = Integer.parseInt(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        TnlConfig cfg = TnlConfig.small(256, dim, layers, heads);
        System.out.printf("TNL d=%d, %d layers, %d heads (head dim %d), batch %d, %d tokens per rank; %d warm-up + %d measured steps, median; %d CPU threads%n",
                dim, layers, heads, dim / heads, batch, perRank, warmup, steps, fulgur.backend.cpu.Parallel.threads());
        System.out.println("| ranks | sequence | single process (ms) | LASP (ms) | LASP-2 (ms) | LASP-2 / LASP | state traffic per rank and step, LASP / LASP-2 (KiB) |");
        System.out.println("|---:|---:|---:|---:|---:|---:|---:|");
        for (int w : ranks) {
            int t = w * perRank;
            int[] ids = tokens(batch * t);
            double single = singleStep(cfg, ids, batch, t, warmup, steps);
            double[] lasp = spStep(cfg, ids, batch, t, w, SpAlgorithm.LASP, warmup, steps);
            double[] lasp2 = spStep(cfg, ids, batch, t, w, SpAlgorithm.LASP2, warmup, steps);
            System.out.printf("| %d | %d | %.1f | %.1f | %.1f | %.2f | %.0f / %.0f |%n", w, t, single, lasp[0], lasp2[0], lasp2[0] / lasp[0], lasp[1] / 1024, lasp2[1] / 1024);
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

    /** Median step time (ms, the slowest rank's) and the state bytes each rank moved per step. */
    private static double[] spStep(TnlConfig cfg, int[] ids, int b, int t, int w, SpAlgorithm a, int warmup, int steps) {
        List<double[]> res = LocalWorld.run(w, Duration.ofMinutes(10), pg -> {
            double[] times = new double[steps];
            long stateBytes = 0;
            try (TnlModel m = new TnlModel(cfg, 1); GradientSync sync = new GradientSync(m.parameters(), pg, 1.0, GradientSync.DEFAULT_BUCKET_ELEMENTS)) {
                SequenceLayout layout = SequenceLayout.even(t, w);
                var shard = SequenceParallel.shard(pg, a, layout);
                for (int s = 0; s < warmup + steps; s++) {
                    m.zeroGrad();
                    pg.barrier().await();
                    pg.stats().reset();
                    long t0 = System.nanoTime();
                    try (Scope sc = Scope.open()) {
                        Tensor in = SequenceParallel.slice(Tensor.ofInts(ids, b, t), layout, pg.rank());
                        Tensor loss = m.loss(in, in.reshape(-1), shard).mul(1.0 / w);
                        sync.backward(loss);
                    }
                    double ms = (System.nanoTime() - t0) / 1e6;
                    stateBytes = pg.stats().bytes(CommOp.ALL_GATHER) + pg.stats().bytes(CommOp.SEND) + pg.stats().bytes(CommOp.RECV);
                    if (s >= warmup) {
                        times[s - warmup] = slowest(pg, ms);
                    }
                }
            }
            return new double[] {median(times), stateBytes};
        });
        return res.get(0);
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
