package fulgur.cuda.bench;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.KernelProfiler;
import fulgur.data.Batch;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.optim.AdamW;
import fulgur.optim.ParamGroup;
import fulgur.tensor.Device;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.train.MixedPrecision;
import fulgur.train.TrainStep;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Where a bf16 training step of any architecture spends its device time: the model of a config.json on one GPU,
 * forward, backward and AdamW on random tokens as {@code fulgur train --precision bf16} runs them; the median host
 * time of the timed steps (split into forward, backward, optimizer), the allocator's peak, then one more step with
 * every kernel launch bracketed by CUDA events (the 40 largest kernels by device time). With {@code --sample}, the
 * host's side too: the stepping thread's stack sampled every half millisecond during the timed steps, counted by the
 * innermost fulgur frame and by the innermost frame of all (a host that waits on the device shows as a driver call).
 * With {@code --train-step}, also the trainer's own step ({@link TrainStep}: upload, forward, backward, clipping at
 * 1.0, AdamW, loss read back) eager and captured as a CUDA graph, the median of the timed steps of each.
 *
 * <pre>java fulgur.cuda.bench.ZooStepProfile CONFIG.json [--batch 8] [--seq 2048] [--steps 4] [--warmup 2] [--sample] [--train-step]</pre>
 */
public final class ZooStepProfile {
    private ZooStepProfile() {}

    public static void main(String[] args) {
        Path config = Path.of(args[0]);
        int batch = 8, seq = 2048, steps = 4, warmup = 2;
        boolean sample = false, trainStep = false;
        for (int i = 1; i < args.length; i++) {
            switch (args[i]) {
                case "--batch" -> batch = Integer.parseInt(args[++i]);
                case "--seq" -> seq = Integer.parseInt(args[++i]);
                case "--steps" -> steps = Integer.parseInt(args[++i]);
                case "--warmup" -> warmup = Integer.parseInt(args[++i]);
                case "--sample" -> sample = true;
                case "--train-step" -> trainStep = true;
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        Device gpu = Device.cuda(0);
        CudaBackend be = (CudaBackend) Backends.of(gpu);
        LanguageModel model = Architectures.build(config, 1234);
        model.module().to(gpu);
        MixedPrecision mp = MixedPrecision.bf16(model.module());
        AdamW opt = new AdamW(mp.masterGroups(ParamGroup.decayAndNoDecay(model.module(), 0.1)), 3e-4, 0.9, 0.95, 1e-8);
        Rng rng = new Rng(7);
        be.context().allocator().resetPeaks();
        double[] fwd = new double[steps], bwd = new double[steps], upd = new double[steps];
        StackSampler sampler = sample ? new StackSampler(Thread.currentThread()) : null;
        for (int s = -warmup; s < steps; s++) {
            if (s == 0 && sampler != null) sampler.start();
            if (s == 0)
                System.out.println("allocator before the timed steps: "
                        + be.context().allocator().report());
            try (Scope step = Scope.open("step")) {
                Tensor ids = TnlTrainBench.randomTokens(rng, model.vocabSize(), batch, seq)
                        .to(gpu);
                Tensor targets = TnlTrainBench.randomTokens(rng, model.vocabSize(), batch * seq)
                        .to(gpu);
                be.synchronize();
                long a = System.nanoTime();
                Tensor l = model.loss(ids, targets);
                be.synchronize();
                long f = System.nanoTime();
                Autograd.backward(l, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS);
                be.synchronize();
                long g = System.nanoTime();
                mp.step(opt);
                mp.zeroGrad();
                be.synchronize();
                long e = System.nanoTime();
                if (s >= 0) {
                    fwd[s] = (f - a) / 1e6;
                    bwd[s] = (g - f) / 1e6;
                    upd[s] = (e - g) / 1e6;
                }
            }
        }
        if (sampler != null) sampler.stop();
        System.out.println(
                "allocator after the timed steps: " + be.context().allocator().report());
        double peak = be.memoryReport().peakInUseBytes() / 1073741824.0;
        System.out.printf(
                Locale.ROOT,
                "%s B=%d T=%d: %,d parameters; step %.1f ms (fwd %.1f, bwd %.1f, opt %.1f); peak %.2f GiB%n",
                config.getFileName(),
                batch,
                seq,
                model.parameterCount(),
                TnlTrainBench.median(sum(fwd, bwd, upd)),
                TnlTrainBench.median(fwd),
                TnlTrainBench.median(bwd),
                TnlTrainBench.median(upd),
                peak);
        try (Scope step = Scope.open("profiled")) {
            Tensor ids = TnlTrainBench.randomTokens(rng, model.vocabSize(), batch, seq)
                    .to(gpu);
            Tensor targets = TnlTrainBench.randomTokens(rng, model.vocabSize(), batch * seq)
                    .to(gpu);
            be.synchronize();
            KernelProfiler.start();
            long a = System.nanoTime();
            Tensor l = model.loss(ids, targets);
            Autograd.backward(l, null, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS);
            mp.step(opt);
            mp.zeroGrad();
            be.synchronize();
            double wall = (System.nanoTime() - a) / 1e6;
            System.out.print(TnlTrainBench.kernelTable("profiled step", wall, KernelProfiler.stop(), 40));
        }
        if (sampler != null) System.out.print(sampler.report(30));
        if (trainStep) {
            opt.release();
            mp.close();
            model.close();
            be.context().allocator().emptyCache();
            double[] ms = new double[2];
            for (int mode = 0; mode < 2; mode++) {
                boolean graph = mode == 1;
                try (LanguageModel m = Architectures.build(config, 1234)) {
                    m.module().to(gpu);
                    MixedPrecision p = MixedPrecision.bf16(m.module());
                    AdamW o = new AdamW(
                            p.masterGroups(ParamGroup.decayAndNoDecay(m.module(), 0.1)), 3e-4, 0.9, 0.95, 1e-8);
                    Rng r = new Rng(99); // the same batches in both modes
                    double[] t = new double[steps];
                    try (TrainStep step = new TrainStep(m, p, o, 1.0, 1, graph)) {
                        for (int s = -warmup; s < steps; s++) {
                            List<Batch> batchList = List.of(GraphStepBench.batch(r, m.vocabSize(), batch, seq));
                            long a = System.nanoTime();
                            step.run(batchList, 3e-4);
                            if (s >= 0) t[s] = (System.nanoTime() - a) / 1e6;
                        }
                    }
                    o.release();
                    p.close();
                    ms[mode] = TnlTrainBench.median(t);
                    System.out.printf(
                            Locale.ROOT, "train step %s: %s ms%n", graph ? "graph" : "eager", Arrays.toString(t));
                }
                be.context().allocator().emptyCache();
            }
            System.out.printf(
                    Locale.ROOT,
                    "%s B=%d T=%d train step: eager %.1f ms, graph %.1f ms (%.2fx)%n",
                    config.getFileName(),
                    batch,
                    seq,
                    ms[0],
                    ms[1],
                    ms[1] / ms[0]);
        }
    }

    /** Samples one thread's stack from a daemon thread and counts where it was. */
    static final class StackSampler {
        private final Thread target;
        private final java.util.Map<String, Integer> byFulgur = new java.util.HashMap<>();
        private final java.util.Map<String, Integer> byLeaf = new java.util.HashMap<>();
        private final java.util.Map<String, Integer> byOp = new java.util.HashMap<>();
        private volatile boolean running;
        private Thread thread;
        private int samples;

        StackSampler(Thread target) {
            this.target = target;
        }

        void start() {
            running = true;
            thread = Thread.ofPlatform().daemon().start(() -> {
                while (running) {
                    StackTraceElement[] st = target.getStackTrace();
                    if (st.length > 0) {
                        samples++;
                        int f0 = fulgurIndex(st, 0);
                        byLeaf.merge(frame(st[0]) + " < " + (f0 < 0 ? "-" : frame(st[f0])), 1, Integer::sum);
                        String op = "-";
                        for (StackTraceElement e : st)
                            if (e.getClassName().startsWith("fulgur.ops.")
                                    || e.getClassName().startsWith("fulgur.nn.")) {
                                op = frame(e);
                                break;
                            }
                        byOp.merge(op, 1, Integer::sum);
                        // the innermost three fulgur frames: the op, its caller, and the caller's caller
                        StringBuilder chain = new StringBuilder();
                        for (int i = fulgurIndex(st, 0), n = 0; i >= 0 && n < 3; i = fulgurIndex(st, i + 1), n++)
                            chain.append(n == 0 ? "" : " < ").append(frame(st[i]));
                        byFulgur.merge(chain.isEmpty() ? "(none)" : chain.toString(), 1, Integer::sum);
                    }
                    java.util.concurrent.locks.LockSupport.parkNanos(500_000);
                }
            });
        }

        void stop() {
            running = false;
            try {
                thread.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        private static String frame(StackTraceElement e) {
            String c = e.getClassName();
            return c.substring(c.lastIndexOf('.') + 1) + "." + e.getMethodName() + ":" + e.getLineNumber();
        }

        private static int fulgurIndex(StackTraceElement[] st, int from) {
            for (int i = Math.max(0, from); i < st.length; i++)
                if (st[i].getClassName().startsWith("fulgur.")
                        && !st[i].getClassName().contains("ZooStepProfile")) return i;
            return -1;
        }

        String report(int top) {
            StringBuilder sb =
                    new StringBuilder(String.format(Locale.ROOT, "%nhost samples: %d (every 0.5 ms)%n", samples));
            for (var m : java.util.List.of(byOp, byFulgur, byLeaf)) {
                sb.append(
                                m == byOp
                                        ? "| innermost op (fulgur.ops, fulgur.nn) |"
                                        : m == byFulgur
                                                ? "| innermost fulgur frames |"
                                                : "| innermost frame < its fulgur caller |")
                        .append(" samples | share |\n|---|---:|---:|\n");
                m.entrySet().stream()
                        .sorted(java.util.Map.Entry.<String, Integer>comparingByValue()
                                .reversed())
                        .limit(top)
                        .forEach(e -> sb.append(String.format(
                                Locale.ROOT,
                                "| %s | %d | %.1f%% |%n",
                                e.getKey(),
                                e.getValue(),
                                100.0 * e.getValue() / Math.max(1, samples))));
            }
            return sb.toString();
        }
    }

    private static double[] sum(double[] a, double[] b, double[] c) {
        double[] s = new double[a.length];
        Arrays.setAll(s, i -> a[i] + b[i] + c[i]);
        return s;
    }
}
