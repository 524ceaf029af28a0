package fulgur.dist.sp;

import fulgur.dist.ProcessGroup;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.local.LocalWorld;
import fulgur.models.SequenceShard;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Sequence parallelism with the model on a GPU, on a host with one GPU: W ranks as threads (local backend), each
 * with its replica on cuda:0, one TNL training step with LASP and with LASP-2 (T per rank not a multiple of the
 * block), gradients all-reduced from device buckets; loss and every gradient against one process on the GPU.
 * Prints one line per case and exits non-zero on a mismatch.
 *
 * <pre>java --enable-native-access=ALL-UNNAMED -cp ... fulgur.dist.sp.GpuSequenceParallelCheck</pre>
 */
public final class GpuSequenceParallelCheck {
    private GpuSequenceParallelCheck() {}

    record Step(double loss, Map<String, double[]> grads) {}

    static final TnlConfig CONFIG = TnlConfig.small(53, 32, 2, 2).withLrpe(List.of(1, 0));
    static final Device GPU = Device.cuda(0);

    public static void main(String[] args) {
        List<String> failures = new ArrayList<>();
        for (int ranks : new int[] {2, 3}) {
            int b = 2, t = ranks * 21;
            int[][] data = batch(b, t, ranks);
            Step ref = single(b, t, data);
            for (SpAlgorithm algo : new SpAlgorithm[] {SpAlgorithm.LASP, SpAlgorithm.LASP2}) {
                List<Step> steps = LocalWorld.run(ranks, Duration.ofSeconds(120), pg -> rank(pg, algo, b, t, data));
                double worst = 0;
                for (Step s : steps) {
                    for (var e : ref.grads.entrySet()) {
                        worst = Math.max(worst, rel(s.grads.get(e.getKey()), e.getValue()));
                    }
                }
                double lossErr = Math.abs(steps.get(0).loss - ref.loss) / Math.abs(ref.loss);
                boolean ok = lossErr < 1e-5 && worst < 1e-5;
                System.out.printf(
                        "[%s] %s on %d ranks, model on %s: loss %.6f vs %.6f, worst gradient relative error %.2e%n",
                        ok ? "ok" : "FAILED", algo, ranks, GPU, steps.get(0).loss, ref.loss, worst);
                if (!ok) {
                    failures.add(algo + "/" + ranks);
                }
            }
        }
        System.out.println(
                failures.isEmpty()
                        ? "GPU SEQUENCE PARALLEL CHECK PASSED"
                        : "GPU SEQUENCE PARALLEL CHECK FAILED: " + failures);
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    static int[][] batch(int b, int t, long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        int[] in = new int[b * t];
        int[] tg = new int[b * t];
        for (int i = 0; i < in.length; i++) {
            in[i] = rnd.nextInt(CONFIG.vocabSize());
            tg[i] = rnd.nextInt(10) == 0 ? -100 : rnd.nextInt(CONFIG.vocabSize());
        }
        return new int[][] {in, tg};
    }

    static Step single(int b, int t, int[][] data) {
        try (TnlModel m = new TnlModel(CONFIG, 9);
                Scope s = Scope.open()) {
            m.to(GPU);
            Tensor loss = m.loss(
                    Tensor.ofInts(data[0], b, t).to(GPU),
                    Tensor.ofInts(data[1], b * t).to(GPU));
            loss.backward();
            return new Step(loss.item(), grads(m));
        }
    }

    static Step rank(ProcessGroup pg, SpAlgorithm algo, int b, int t, int[][] data) {
        try (TnlModel m = new TnlModel(CONFIG, 9);
                Scope s = Scope.open()) {
            m.to(GPU);
            SequenceLayout layout = SequenceLayout.even(t, pg.size());
            Tensor in = SequenceParallel.slice(Tensor.ofInts(data[0], b, t), layout, pg.rank());
            Tensor tg = SequenceParallel.slice(Tensor.ofInts(data[1], b, t), layout, pg.rank());
            SequenceShard shard = SequenceParallel.shard(pg, algo, layout, 16);
            Tensor mean = m.loss(in.to(GPU), tg.reshape(-1).to(GPU), shard);
            Tensor loss = SequenceParallel.weightedLoss(
                    mean, SequenceParallel.countTargets(tg.toIntArray()), SequenceParallel.countTargets(data[1]));
            try (GradientSync sync = new GradientSync(m.parameters(), pg, 1.0, 4096)) {
                sync.backward(loss);
            }
            Tensor total = Tensor.of(new double[] {loss.item()}, 1);
            pg.allReduce(total, fulgur.dist.ReduceOp.SUM).await();
            return new Step(total.item(), grads(m));
        }
    }

    static Map<String, double[]> grads(TnlModel m) {
        Map<String, double[]> g = new LinkedHashMap<>();
        for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
            g.put(e.getKey(), e.getValue().grad().toDoubleArray());
        }
        return g;
    }

    static double rel(double[] a, double[] ref) {
        double num = 0, den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - ref[i]) * (a[i] - ref[i]);
            den += ref[i] * ref[i];
        }
        return Math.sqrt(num / Math.max(den, 1e-30));
    }
}
