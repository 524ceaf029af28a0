package fulgur.dist.nccl;

import fulgur.backend.Backends;
import fulgur.backend.DeviceStream;
import fulgur.cuda.CudaContext;
import fulgur.dist.CommOp;
import fulgur.dist.DistEnv;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.dist.ddp.GradientSync;
import fulgur.dist.sp.SequenceLayout;
import fulgur.dist.sp.SequenceParallel;
import fulgur.dist.sp.SpAlgorithm;
import fulgur.dist.store.Rendezvous;
import fulgur.dist.store.TcpStore;
import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Checks the NCCL backend on the GPUs of this job (any world size, e.g. one H200 with world size 1), under
 * {@code fulgur launch} or alone: the collectives and send/recv on raw device buffers with known values, CPU tensors
 * staged through the device, a communicator split, the all-reduce bandwidth, and a TNL training step with LASP-2
 * whose communication goes through NCCL, against the same step on one process. Prints one line per check; exit
 * status 1 when one failed. {@code java -cp fulgur.jar fulgur.dist.nccl.NcclCheck}
 */
public final class NcclCheck {
    private static final List<String> failures = new ArrayList<>();

    private NcclCheck() {}

    public static void main(String[] args) {
        DistEnv env = DistEnv.fromEnvironment();
        Duration timeout = Duration.ofSeconds(60);
        int r = env.rank(), w = env.worldSize();
        try (TcpStore store = Rendezvous.join(env, timeout);
                NcclProcessGroup pg = NcclProcessGroup.create(store, r, w, env.localRank(), timeout)) {
            CudaContext ctx = CudaContext.get(env.localRank());
            System.out.printf(
                    "nccl %d on %s (device %d), rank %d of %d%n",
                    Nccl.get().version(), ctx.device().name(), env.localRank(), r, w);
            deviceCollectives(pg, ctx);
            tensors(pg);
            split(pg);
            bandwidth(pg, ctx);
            tnlStep(pg, SpAlgorithm.LASP2);
            tnlStep(pg, SpAlgorithm.LASP);
            gpuResidentStep(pg, env.localRank());
            pg.barrier().await();
            Rendezvous.barrier(store, env, "nccl-check", timeout);
        } catch (RuntimeException e) {
            e.printStackTrace();
            failures.add("exception: " + e);
        }
        System.out.println(failures.isEmpty() ? "NCCL CHECK PASSED" : "NCCL CHECK FAILED: " + failures);
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    private static void check(String what, boolean ok, String detail) {
        System.out.printf("[%s] %s%s%n", ok ? "ok" : "FAILED", what, detail.isEmpty() ? "" : " (" + detail + ")");
        if (!ok) {
            failures.add(what);
        }
    }

    private static float[] pattern(int n, int rank) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (rank + 1) * ((i % 97) - 48) * 0.25f;
        }
        return a;
    }

    private static DeviceStream.Memory allocate(NcclProcessGroup pg, long bytes) {
        return pg.runtime().allocate(bytes, pg.stream());
    }

    private static DeviceStream.Memory upload(CudaContext ctx, NcclProcessGroup pg, float[] a) {
        DeviceStream.Memory b = allocate(pg, (long) a.length * 4);
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment h = ar.allocate((long) a.length * 4);
            MemorySegment.copy(a, 0, h, ValueLayout.JAVA_FLOAT, 0, a.length);
            b.copyFromHost(h, pg.stream());
            pg.stream().synchronize();
        }
        return b;
    }

    private static float[] download(NcclProcessGroup pg, DeviceStream.Memory b, int n) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment h = ar.allocate((long) n * 4);
            b.copyToHost(h.asSlice(0, (long) n * 4), pg.stream());
            pg.stream().synchronize();
            return h.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private static void deviceCollectives(NcclProcessGroup pg, CudaContext ctx) {
        int n = 1 << 20, w = pg.size(), r = pg.rank();
        // all-reduce sum, avg, max
        for (ReduceOp op : new ReduceOp[] {ReduceOp.SUM, ReduceOp.AVG, ReduceOp.MAX}) {
            try (DeviceStream.Memory b = upload(ctx, pg, pattern(n, r))) {
                pg.allReduce(b.address(), n, DType.F32, op).await();
                pg.stream().synchronize();
                float[] got = download(pg, b, n);
                double err = 0;
                for (int i = 0; i < n; i++) {
                    double base = ((i % 97) - 48) * 0.25;
                    double sumFactor = w * (w + 1) / 2.0;
                    double want = switch (op) {
                        case SUM -> sumFactor * base;
                        case AVG -> sumFactor * base / w;
                        case MAX -> base >= 0 ? w * base : base;
                        case MIN -> base >= 0 ? base : w * base;
                    };
                    err = Math.max(err, Math.abs(got[i] - want));
                }
                check("device allReduce " + op.label() + " of " + n + " f32", err < 1e-3, "max error " + err);
            }
        }
        // all-gather
        int m = 1000;
        try (DeviceStream.Memory in = upload(ctx, pg, pattern(m, r));
                DeviceStream.Memory out = allocate(pg, (long) m * w * 4)) {
            pg.allGather(in.address(), out.address(), m, DType.F32).await();
            float[] got = download(pg, out, m * w);
            boolean ok = true;
            for (int s = 0; s < w; s++) {
                float[] want = pattern(m, s);
                for (int i = 0; i < m; i++) {
                    ok &= got[s * m + i] == want[i];
                }
            }
            check("device allGather " + m + " f32 × " + w + " ranks", ok, "");
        }
        // reduce-scatter
        try (DeviceStream.Memory in = upload(ctx, pg, pattern(m * w, r));
                DeviceStream.Memory out = allocate(pg, (long) m * 4)) {
            pg.reduceScatter(in.address(), out.address(), m, DType.F32, ReduceOp.SUM)
                    .await();
            float[] got = download(pg, out, m);
            float[] one = pattern(m * w, 0);
            boolean ok = true;
            for (int i = 0; i < m; i++) {
                ok &= Math.abs(got[i] - one[r * m + i] * w * (w + 1) / 2f) < 1e-3;
            }
            check("device reduceScatter " + m + " f32", ok, "");
        }
        // broadcast from the last rank
        try (DeviceStream.Memory b = upload(ctx, pg, pattern(m, r))) {
            pg.broadcast(b.address(), m, DType.F32, w - 1).await();
            check(
                    "device broadcast from rank " + (w - 1),
                    java.util.Arrays.equals(download(pg, b, m), pattern(m, w - 1)),
                    "");
        }
        // ring send/recv (to oneself with one rank)
        try (DeviceStream.Memory s = upload(ctx, pg, pattern(m, r));
                DeviceStream.Memory rcv = allocate(pg, (long) m * 4)) {
            pg.sendRecv(s.address(), (r + 1) % w, rcv.address(), (r + w - 1) % w, m, DType.F32)
                    .await();
            check(
                    "device send/recv ring step",
                    java.util.Arrays.equals(download(pg, rcv, m), pattern(m, (r + w - 1) % w)),
                    "");
        }
        pg.barrier().await();
        check("barrier", true, "");
    }

    private static void tensors(NcclProcessGroup pg) {
        try (Scope s = Scope.open()) {
            int w = pg.size();
            Tensor t = Tensor.of(new float[] {1, 2, 3}, 3);
            Work a = pg.allReduce(t, ReduceOp.SUM);
            Tensor g = Tensor.zeros(DType.F32, 3 * w);
            Work b = pg.allGather(Tensor.of(new float[] {pg.rank(), 10, 20}, 3), g);
            a.await();
            b.await();
            check(
                    "CPU tensors staged through the device (allReduce, allGather)",
                    t.toFloatArray()[2] == 3f * w && g.toFloatArray()[3 * (w - 1)] == w - 1,
                    java.util.Arrays.toString(t.toFloatArray()));
            check(
                    "stats count the calls",
                    pg.stats().calls(CommOp.ALL_REDUCE) >= 4,
                    pg.stats().toString());
        }
    }

    private static void split(NcclProcessGroup pg) {
        try (ProcessGroup sub = pg.split(pg.rank() % 2, pg.rank());
                Scope s = Scope.open()) {
            Tensor t = Tensor.of(new float[] {1}, 1);
            sub.allReduce(t, ReduceOp.SUM).await();
            check("split into " + sub.name() + " and all-reduce there", t.item() == sub.size(), "");
        }
    }

    private static void bandwidth(NcclProcessGroup pg, CudaContext ctx) {
        long bytes = 256L << 20;
        int n = (int) (bytes / 4);
        try (DeviceStream.Memory b = allocate(pg, bytes)) {
            b.fill32(0, pg.stream());
            pg.allReduce(b.address(), n, DType.F32, ReduceOp.SUM).await();
            int reps = 10;
            long t0 = System.nanoTime();
            List<Work> ws = new ArrayList<>();
            for (int i = 0; i < reps; i++) {
                ws.add(pg.allReduce(b.address(), n, DType.F32, ReduceOp.SUM));
            }
            Work.awaitAll(ws);
            double s = (System.nanoTime() - t0) / 1e9 / reps;
            System.out.printf(
                    "all-reduce of 256 MiB f32: %.3f ms per call, algorithm bandwidth %.1f GB/s (world size %d)%n",
                    s * 1e3, bytes / s / 1e9, pg.size());
        }
    }

    /** A TNL step with LASP-2 (state all-gathers) or LASP (ring) and a gradient all-reduce over NCCL, vs one process. */
    private static void tnlStep(NcclProcessGroup pg, SpAlgorithm algo) {
        TnlConfig cfg = TnlConfig.small(61, 32, 2, 2).withLrpe(List.of(1, 0));
        int w = pg.size(), b = 2, perRank = 37, t = w * perRank;
        int[] ids = new int[b * t];
        int[] tg = new int[b * t];
        java.util.Random rnd = new java.util.Random(3);
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(61);
            tg[i] = rnd.nextInt(61);
        }
        double refLoss;
        Map<String, double[]> refGrads = new java.util.LinkedHashMap<>();
        try (TnlModel m = new TnlModel(cfg, 5);
                Scope s = Scope.open()) {
            Tensor loss = m.loss(Tensor.ofInts(ids, b, t), Tensor.ofInts(tg, b * t));
            loss.backward();
            refLoss = loss.item();
            m.namedParameters().forEach((k, p) -> refGrads.put(k, p.grad().toDoubleArray()));
        }
        try (TnlModel m = new TnlModel(cfg, 5);
                Scope s = Scope.open()) {
            SequenceLayout layout = SequenceLayout.even(t, w);
            Tensor in = SequenceParallel.slice(Tensor.ofInts(ids, b, t), layout, pg.rank());
            Tensor target = SequenceParallel.slice(Tensor.ofInts(tg, b, t), layout, pg.rank());
            Tensor mean = m.loss(in, target.reshape(-1), SequenceParallel.shard(pg, algo, layout, 16));
            Tensor loss = SequenceParallel.weightedLoss(
                    mean, SequenceParallel.countTargets(target.toIntArray()), SequenceParallel.countTargets(tg));
            try (GradientSync sync = new GradientSync(m.parameters(), pg, 1.0, 4096)) {
                sync.backward(loss);
            }
            Tensor total = Tensor.of(DType.F64, new double[] {loss.item()}, 1);
            pg.allReduce(total, ReduceOp.SUM).await();
            double worst = 0;
            for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
                double[] g = e.getValue().grad().toDoubleArray();
                double[] ref = refGrads.get(e.getKey());
                double num = 0, den = 0;
                for (int i = 0; i < g.length; i++) {
                    num += (g[i] - ref[i]) * (g[i] - ref[i]);
                    den += ref[i] * ref[i];
                }
                worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
            }
            double lossErr = Math.abs(total.item() - refLoss) / Math.abs(refLoss);
            check(
                    "TNL step, " + algo + " over NCCL on " + w + " rank(s), vs one process",
                    lossErr < 1e-5 && worst < 1e-5,
                    String.format(
                            "loss %.6f vs %.6f, worst gradient relative error %.2e", total.item(), refLoss, worst));
        }
    }

    /**
     * Data parallelism on GPU-resident tensors: the model on this rank's GPU, its gradients packed into device
     * buckets and all-reduced by NCCL in place (no host staging) after waiting for the backend's stream; every rank
     * gets the same batch, so the averaged gradients must equal one CPU process's.
     */
    private static void gpuResidentStep(NcclProcessGroup pg, int localRank) {
        TnlConfig cfg = TnlConfig.small(61, 32, 2, 2).withLrpe(List.of(1, 0));
        int b = 2, t = 45;
        int[] ids = new int[b * t];
        int[] tg = new int[b * t];
        java.util.Random rnd = new java.util.Random(4);
        for (int i = 0; i < ids.length; i++) {
            ids[i] = rnd.nextInt(61);
            tg[i] = rnd.nextInt(61);
        }
        Map<String, double[]> refGrads = new java.util.LinkedHashMap<>();
        double refLoss;
        try (TnlModel m = new TnlModel(cfg, 6);
                Scope s = Scope.open()) {
            Tensor loss = m.loss(Tensor.ofInts(ids, b, t), Tensor.ofInts(tg, b * t));
            loss.backward();
            refLoss = loss.item();
            m.namedParameters().forEach((k, p) -> refGrads.put(k, p.grad().toDoubleArray()));
        }
        fulgur.tensor.Device dev = fulgur.tensor.Device.cuda(localRank);
        try (TnlModel m = new TnlModel(cfg, 6);
                Scope s = Scope.open()) {
            m.to(dev);
            pg.setComputeStream(Backends.runtime(dev).computeStream());
            Tensor loss = m.loss(
                    Tensor.ofInts(ids, b, t).to(dev), Tensor.ofInts(tg, b * t).to(dev));
            try (GradientSync sync = new GradientSync(m.parameters(), pg, 1.0 / pg.size(), 4096)) {
                sync.backward(loss);
            }
            double worst = 0;
            boolean resident = true;
            for (Map.Entry<String, Parameter> e : m.namedParameters().entrySet()) {
                resident &= e.getValue().grad().device().equals(dev);
                double[] g = e.getValue().grad().toDoubleArray();
                double[] ref = refGrads.get(e.getKey());
                double num = 0, den = 0;
                for (int i = 0; i < g.length; i++) {
                    num += (g[i] - ref[i]) * (g[i] - ref[i]);
                    den += ref[i] * ref[i];
                }
                worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
            }
            double lossErr = Math.abs(loss.item() - refLoss) / Math.abs(refLoss);
            check(
                    "TNL data-parallel step on " + dev + ", gradients all-reduced in device memory, vs one CPU process",
                    resident && lossErr < 1e-5 && worst < 1e-5,
                    String.format(
                            "loss %.6f vs %.6f, worst gradient relative error %.2e, gradients on the GPU: %s",
                            loss.item(), refLoss, worst, resident));
        } finally {
            pg.setComputeStream(pg.runtime().computeStream());
        }
    }
}
