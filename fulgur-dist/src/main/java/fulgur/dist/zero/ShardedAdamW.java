package fulgur.dist.zero;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.dist.DistException;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.dist.ddp.GradientBuckets;
import fulgur.dist.ddp.GradientHook;
import fulgur.nn.Parameter;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.adamw.AdamWUpdate;
import fulgur.optim.ParamGroup;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * AdamW with its state sharded over a data-parallel group, as ZeRO stages 1 and 2 (Rajbhandari et al., 2020). The
 * parameters are packed into the {@link GradientBuckets} of gradient communication; each bucket of n elements is
 * padded to a multiple of the group size N and rank r owns its r-th slice of ⌈n/N⌉ elements. For that slice alone
 * the rank keeps the f32 master values, the two moments and the gradient, so the optimizer's memory per rank is about
 * 4/N floats per parameter instead of 2 (3 with bf16 masters).
 *
 * <p>A step: the backward reduce-scatters (sums) each bucket's gradients as soon as they are complete, so each rank
 * receives the summed gradient of its slice ({@link #backward}); the global gradient norm comes from one all-reduce
 * of the slices' squared norms; the rank runs the fused AdamW update on its slice; the updated slices, cast to the
 * parameters' dtype, are all-gathered back into every rank's parameters. Stage 1 keeps whole gradients through the
 * micro-batches of gradient accumulation and reduce-scatters after the last; stage 2 reduce-scatters after every
 * micro-batch, adding into its slice, and frees each parameter's whole gradient as soon as the bucket holding it has
 * been packed. The update is the one {@link fulgur.optim.AdamW} makes, so a step equals unsharded data parallelism up
 * to the order of the sums.
 *
 * <p>With a 16-bit compute dtype (mixed precision) the parameters become that dtype and the f32 masters exist only as
 * the slices here. Checkpoints gather everything back under the unsharded names ({@link #gatherMasters},
 * {@link #gatherState}), and {@link #loadState} slices an unsharded optimizer state, so sharded and unsharded runs
 * resume each other's checkpoints.
 */
public final class ShardedAdamW implements GradientHook, AutoCloseable {

    /** What ZeRO shards: stage 1 the optimizer states (and masters), stage 2 the gradients too. */
    public enum Stage {
        OPTIMIZER_STATES(1),
        GRADIENTS(2);

        private final int level;

        Stage(int level) {
            this.level = level;
        }

        public int level() {
            return level;
        }

        public static Stage of(int level) {
            for (Stage s : values()) {
                if (s.level == level) {
                    return s;
                }
            }
            throw new IllegalArgumentException(
                    "--zero must be 1 (optimizer states) or 2 (optimizer states and gradients), got " + level);
        }
    }

    /** A run of one parameter's elements inside this rank's slice of a bucket. */
    private record Segment(int bucket, int param, long shardOffset, long paramOffset, int length) {}

    private final ProcessGroup group;
    private final Stage stage;
    private final double beta1, beta2, eps;
    private final List<String> names = new ArrayList<>();
    private final List<Parameter> params = new ArrayList<>();
    private final List<double[]> decayAndScale = new ArrayList<>();
    private final GradientBuckets layout;
    private final GradientBuckets.Tracker tracker;
    private final Scope state = Scope.detached("zero");
    private final long[] shard;
    private final Tensor[] master, m, v, grad;
    private final List<Segment> segments = new ArrayList<>();
    private final List<AdamWKernels.Slot> slots = new ArrayList<>();
    private final Tensor schedule;
    private final DType paramType;
    private final Device device;
    private long step;
    private boolean accumulated;
    private Scope pass;
    private final Tensor[] received;
    private final Work[] work;

    /**
     * Shards the optimizer of {@code groups} (the model's parameters by name, with their weight decay and learning-rate
     * scale) over {@code group}. The parameters must hold the same values on every rank (the f32 values, before any
     * cast); with {@code compute} bf16 or f16 they are cast to it here. Not collective.
     */
    public ShardedAdamW(
            List<ParamGroup> groups,
            ProcessGroup group,
            Stage stage,
            long bucketElements,
            double beta1,
            double beta2,
            double eps,
            DType compute) {
        if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1 || !(eps > 0)) {
            throw new IllegalArgumentException("AdamW: need 0 <= beta1, beta2 < 1 and eps > 0, got beta1=" + beta1
                    + ", beta2=" + beta2 + ", eps=" + eps);
        }
        this.group = group;
        this.stage = stage;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        for (ParamGroup g : groups) {
            g.params().forEach((name, p) -> {
                if (!p.value().dtype().isFloating()) {
                    return;
                }
                if (p.value().dtype() != DType.F32) {
                    throw new DistException("ZeRO: parameter '" + name + "' is "
                            + p.value().dtype() + "; shard the f32 parameters (the compute dtype is set here)");
                }
                names.add(name);
                params.add(p);
                decayAndScale.add(new double[] {g.weightDecay(), g.lrScale()});
            });
        }
        if (params.isEmpty()) {
            throw new DistException("ZeRO: no floating parameters to shard");
        }
        this.device = params.get(0).value().device();
        this.paramType = compute == null ? DType.F32 : compute;
        this.layout = new GradientBuckets(params, bucketElements);
        this.tracker = layout.new Tracker();
        int buckets = layout.count();
        this.shard = new long[buckets];
        this.master = new Tensor[buckets];
        this.m = new Tensor[buckets];
        this.v = new Tensor[buckets];
        this.grad = new Tensor[buckets];
        this.received = new Tensor[buckets];
        this.work = new Work[buckets];
        int n = group.size(), r = group.rank();
        try (var off = GradMode.noGrad()) {
            this.schedule = state.run(() -> Tensor.zeros(DType.F64, device, 3));
            for (int b = 0; b < buckets; b++) {
                int bucket = b;
                long s = (layout.elements(b) + n - 1) / n;
                shard[b] = s;
                int len = Shape.toInt("ZeRO shard", s);
                state.run(() -> {
                    master[bucket] = Tensor.zeros(DType.F32, device, len);
                    m[bucket] = Tensor.zeros(DType.F32, device, len);
                    v[bucket] = Tensor.zeros(DType.F32, device, len);
                    grad[bucket] = Tensor.zeros(DType.F32, device, len);
                    return null;
                });
                int[] members = layout.members(b);
                for (int j = 0; j < members.length; j++) {
                    long start = layout.offset(b, j);
                    long end = start + params.get(members[j]).numel();
                    long lo = Math.max(start, r * s), hi = Math.min(end, (r + 1) * s);
                    if (lo < hi) {
                        segments.add(new Segment(b, members[j], lo - r * s, lo - start, (int) (hi - lo)));
                    }
                }
            }
            for (Segment seg : segments) {
                double[] ds = decayAndScale.get(seg.param);
                int at = (int) seg.shardOffset;
                slots.add(state.run(() -> new AdamWKernels.Slot(
                        master[seg.bucket].narrow(0, at, seg.length),
                        grad[seg.bucket].narrow(0, at, seg.length),
                        m[seg.bucket].narrow(0, at, seg.length),
                        v[seg.bucket].narrow(0, at, seg.length),
                        ds[1],
                        ds[0])));
            }
            copySlices(values(), master);
            if (paramType != DType.F32) {
                for (Parameter p : params) {
                    p.replace(p.value().detach().to(paramType));
                }
            }
        }
    }

    public Stage stage() {
        return stage;
    }

    public ProcessGroup group() {
        return group;
    }

    /** The sharded parameters (the model's, in the optimizer's order). */
    public List<Parameter> parameters() {
        return List.copyOf(params);
    }

    public long stepCount() {
        return step;
    }

    /** Elements of this rank's slices (padding included): each of master, moments and gradient holds this many floats. */
    public long shardElements() {
        long s = 0;
        for (long x : shard) {
            s += x;
        }
        return s;
    }

    private List<Tensor> values() {
        List<Tensor> out = new ArrayList<>();
        for (Parameter p : params) {
            out.add(p.value());
        }
        return out;
    }

    /** Copies this rank's slice of every bucket of the per-parameter tensors {@code full} into {@code into}. */
    private void copySlices(List<Tensor> full, Tensor[] into) {
        for (Segment seg : segments) {
            Tensor src = full.get(seg.param).reshape(-1).narrow(0, (int) seg.paramOffset, seg.length);
            into[seg.bucket].narrow(0, (int) seg.shardOffset, seg.length).copyFrom(src);
        }
    }

    // ------------------------------------------------------------------------------------------------ backward

    /**
     * The backward of one micro-batch's {@code loss}. Stage 2 reduce-scatters every micro-batch's gradients into the
     * slices; stage 1 only the last one's (earlier ones accumulate whole gradients locally).
     */
    public void backward(Tensor loss, boolean lastMicroBatch, Autograd.Free free) {
        if (stage == Stage.OPTIMIZER_STATES && !lastMicroBatch) {
            Autograd.backward(loss, null, null, free);
            return;
        }
        GradientHook.backward(loss, free, List.of(this));
    }

    /** Forgets the gradient slices (the start of a step); the parameters' own gradients are dropped as they are reduced. */
    public void zeroGrad() {
        accumulated = false;
        for (Parameter p : params) {
            p.zeroGrad();
        }
    }

    @Override
    public void start() {
        tracker.reset();
        pass = Scope.detached("zero gradients");
    }

    @Override
    public void onLeafGradient(Tensor leaf) {
        for (int b : tracker.onLeafGradient(leaf)) {
            launch(b);
        }
    }

    private void launch(int b) {
        int n = group.size();
        long s = shard[b];
        try (var off = GradMode.noGrad()) {
            Tensor flat = pass.run(() -> Tensor.zeros(DType.F32, device, Shape.toInt("ZeRO bucket", s * n)));
            int[] members = layout.members(b);
            for (int j = 0; j < members.length; j++) {
                Parameter p = params.get(members[j]);
                Tensor g = p.grad();
                if (g != null) {
                    if (g.dtype() != DType.F32) {
                        throw new DistException("ZeRO: gradients must be f32, got " + g.describe() + " for '"
                                + names.get(members[j]) + "'");
                    }
                    flat.narrow(0, (int) layout.offset(b, j), (int) p.numel()).copyFrom(g.reshape(-1));
                }
                p.zeroGrad(); // packed: the whole gradient is not needed any more
            }
            Tensor into = accumulated ? pass.run(() -> Tensor.empty(DType.F32, device, (int) s)) : grad[b];
            received[b] = into;
            work[b] = group.reduceScatter(flat, into, ReduceOp.SUM);
        }
    }

    @Override
    public void finish() {
        for (int b : tracker.rest()) {
            launch(b);
        }
        try (var off = GradMode.noGrad()) {
            for (int b = 0; b < layout.count(); b++) {
                work[b].await();
                work[b] = null;
                if (received[b] != grad[b]) {
                    grad[b].copyFrom(grad[b].add(received[b]));
                }
                received[b] = null;
            }
        } finally {
            pass.close();
            pass = null;
        }
        accumulated = true;
    }

    // ---------------------------------------------------------------------------------------------------- step

    /**
     * One AdamW step at {@code lr} on this rank's slices, after clipping the global gradient norm to {@code gradClip}
     * (0: no clipping), then the parameters all-gathered from the updated slices. Collective; returns the gradient norm
     * before clipping.
     */
    public double step(double lr, double gradClip) {
        return step(lr, gradClip, norm -> {});
    }

    /**
     * {@link #step(double, double)}, handing the gradient norm (the same on every rank) to {@code beforeUpdate} before
     * anything changes; it may throw to stop there.
     */
    public double step(double lr, double gradClip, java.util.function.DoubleConsumer beforeUpdate) {
        if (!accumulated) {
            throw new IllegalStateException(
                    "ZeRO step: no gradients were reduced since the last step (call backward first)");
        }
        double norm;
        try (Scope s = Scope.open("zero step");
                var off = GradMode.noGrad()) {
            norm = globalNorm();
            beforeUpdate.accept(norm);
            if (gradClip > 0 && Double.isFinite(norm) && norm > gradClip) {
                double scale = gradClip / (norm + 1e-6);
                for (Tensor g : grad) {
                    g.copyFrom(g.mul(scale));
                }
            }
            step++;
            schedule.copyFrom(Tensor.of(new double[] {lr, 1 - Math.pow(beta1, step), 1 - Math.pow(beta2, step)}, 3));
            AdamWUpdate.apply(slots, schedule, beta1, beta2, eps);
            allGatherInto(master, values(), paramType);
        }
        accumulated = false;
        return norm;
    }

    /** ‖g‖₂ of the whole gradient: the slices' squared norms in f64, summed over the group. */
    private double globalNorm() {
        double sq = 0;
        for (Tensor g : grad) {
            sq += g.to(DType.F64).pow(2).sum().item();
        }
        Tensor t = Tensor.of(new double[] {sq}, 1);
        group.allReduce(t, ReduceOp.SUM).await();
        return Math.sqrt(t.item());
    }

    /** Collective: every rank's slices of {@code slices} (cast to {@code dtype}) gathered into the per-parameter tensors {@code into}. */
    private void allGatherInto(Tensor[] slices, List<Tensor> into, DType dtype) {
        int n = group.size();
        Tensor[] full = new Tensor[slices.length];
        Work[] ws = new Work[slices.length];
        for (int b = 0; b < slices.length; b++) {
            Tensor mine = slices[b].dtype() == dtype ? slices[b] : slices[b].to(dtype);
            full[b] = Tensor.empty(dtype, device, Shape.toInt("ZeRO bucket", shard[b] * n));
            ws[b] = group.allGather(mine, full[b]);
        }
        for (int b = 0; b < slices.length; b++) {
            ws[b].await();
            int[] members = layout.members(b);
            for (int j = 0; j < members.length; j++) {
                Tensor dst = into.get(members[j]);
                dst.copyFrom(full[b].narrow(0, (int) layout.offset(b, j), (int) dst.numel())
                        .reshape(dst.shape()));
            }
        }
    }

    // ----------------------------------------------------------------------------------------------- checkpoints

    /** Collective: the f32 master values of every parameter, by name (what a checkpoint stores as the weights). */
    public Map<String, Tensor> gatherMasters() {
        return gather(master, "");
    }

    /** Collective: the optimizer state under {@link fulgur.optim.AdamW}'s names ("NAME.exp_avg", "NAME.exp_avg_sq"). */
    public Map<String, Tensor> gatherState() {
        Map<String, Tensor> out = new LinkedHashMap<>(gather(m, ".exp_avg"));
        gather(v, ".exp_avg_sq").forEach(out::put);
        return out;
    }

    private Map<String, Tensor> gather(Tensor[] slices, String suffix) {
        List<Tensor> into = new ArrayList<>();
        for (Parameter p : params) {
            into.add(Tensor.empty(DType.F32, device, p.shape()));
        }
        try (var off = GradMode.noGrad()) {
            allGatherInto(slices, into, DType.F32);
        }
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (int i = 0; i < params.size(); i++) {
            out.put(names.get(i) + suffix, into.get(i));
        }
        return out;
    }

    /**
     * Restores this rank's slices from an unsharded AdamW state (names as {@link #gatherState}) and its step count.
     * Parameters without moments (never stepped) keep zeros. Not collective.
     */
    public void loadState(Map<String, Tensor> full, long stepCount) {
        List<String> problems = new ArrayList<>();
        List<Tensor> ms = new ArrayList<>(), vs = new ArrayList<>();
        for (int i = 0; i < params.size(); i++) {
            Tensor a = full.get(names.get(i) + ".exp_avg");
            Tensor b = full.get(names.get(i) + ".exp_avg_sq");
            if (a == null && b == null) {
                a = b = Tensor.zeros(DType.F32, params.get(i).shape());
            } else if (a == null || b == null) {
                problems.add("incomplete moments for " + names.get(i));
            } else if (!java.util.Arrays.equals(a.shape(), params.get(i).shape())
                    || !java.util.Arrays.equals(b.shape(), params.get(i).shape())) {
                problems.add("mis-shaped moments for " + names.get(i) + ": expected "
                        + Shape.str(params.get(i).shape()));
            }
            ms.add(a);
            vs.add(b);
        }
        if (!problems.isEmpty()) {
            throw new IllegalArgumentException("ZeRO optimizer state: " + String.join("; ", problems));
        }
        try (var off = GradMode.noGrad()) {
            copySlices(ms, m);
            copySlices(vs, v);
        }
        this.step = stepCount;
    }

    @Override
    public void close() {
        if (pass != null) {
            pass.close();
        }
        state.close();
    }
}
