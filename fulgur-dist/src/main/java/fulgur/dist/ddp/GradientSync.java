package fulgur.dist.ddp;

import fulgur.autograd.Autograd;
import fulgur.backend.Backends;
import fulgur.dist.DistException;
import fulgur.dist.HostBuffers;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/**
 * Data-parallel gradient synchronisation, bucketed and overlapped with the backward pass (as torch's DDP): the
 * parameters are packed into {@link GradientBuckets}; as soon as the backward has finished every gradient of a bucket,
 * the bucket is copied into one flat buffer and its all-reduce (sum) starts, while the backward goes on with the
 * layers below. {@link #finish()} waits for the buckets and writes {@code scale × sum} back into the gradients.
 * Buckets are launched strictly in order, so every rank issues the same collectives in the same order.
 *
 * <p>Used for data parallelism (scale 1/dp: the mean over replicas), for sequence parallelism (scale 1: each rank's
 * gradient is its slice's share of the loss, the sum is the whole) and for both at once over the whole grid
 * (scale 1/dp). Gradients are f32.
 */
public final class GradientSync implements GradientHook, AutoCloseable {
    /** Default bucket size: 1 Mi elements (4 MiB of f32). */
    public static final long DEFAULT_BUCKET_ELEMENTS = 1 << 20;

    private final ProcessGroup group;
    private final double scale;
    private final GradientBuckets layout;
    private final GradientBuckets.Tracker tracker;
    private final Tensor[] flat;
    private final Work[] work;
    private final Scope scope = Scope.detached("gradient-sync");

    public GradientSync(List<Parameter> parameters, ProcessGroup group, double scale, long bucketElements) {
        this.group = group;
        this.scale = scale;
        this.layout = new GradientBuckets(parameters, bucketElements);
        this.tracker = layout.new Tracker();
        this.flat = new Tensor[layout.count()];
        this.work = new Work[layout.count()];
        for (int b = 0; b < layout.count(); b++) {
            fulgur.tensor.Device d = param(b, 0).value().device();
            int n = fulgur.tensor.Shape.toInt("gradient bucket", layout.elements(b));
            flat[b] = scope.run(() -> Tensor.empty(DType.F32, d, n));
        }
    }

    public int bucketCount() {
        return layout.count();
    }

    private Parameter param(int b, int j) {
        return layout.params().get(layout.members(b)[j]);
    }

    /**
     * Backward of {@code loss} (accumulating into the gradients as usual); with {@code sync} the gradients are
     * all-reduced while it runs and hold {@code scale × sum} when this returns. Without, they only accumulate
     * locally (earlier micro-batches of gradient accumulation).
     */
    public void backward(Tensor loss, boolean sync) {
        backward(loss, sync, Autograd.Free.GRADIENTS);
    }

    /**
     * {@link #backward(Tensor, boolean)} freeing what {@code free} says during the pass (with
     * {@link Autograd.Free#GRADIENTS_AND_ACTIVATIONS} the caller reads nothing of the forward afterwards but {@code loss}).
     */
    public void backward(Tensor loss, boolean sync, Autograd.Free free) {
        backward(java.util.List.of(loss), java.util.Collections.singletonList(null), sync, free, loss);
    }

    /**
     * One backward pass from several outputs with their seeds ({@link Autograd#backward(List, List,
     * java.util.function.Consumer, Autograd.Free, Tensor...)}: a chunk of a long sequence, from its loss and its final
     * states), synchronising when {@code sync} (the pass that completes the gradients: the last chunk's of the last
     * micro-batch); {@code keep}: forward tensors read afterwards.
     */
    public void backward(List<Tensor> roots, List<Tensor> seeds, boolean sync, Autograd.Free free, Tensor... keep) {
        if (!sync) {
            Autograd.backward(roots, seeds, null, free, keep);
            return;
        }
        GradientHook.backward(roots, seeds, free, List.of(this), keep);
    }

    public void backward(Tensor loss) {
        backward(loss, true);
    }

    @Override
    public void start() {
        tracker.reset();
        java.util.Arrays.fill(work, null);
    }

    @Override
    public void onLeafGradient(Tensor leaf) {
        for (int b : tracker.onLeafGradient(leaf)) {
            launch(b);
        }
    }

    private void launch(int b) {
        if (onDevice(b)) {
            launchOnDevice(b);
            return;
        }
        MemorySegment seg = HostBuffers.segment("gradient bucket", flat[b]);
        int[] members = layout.members(b);
        for (int j = 0; j < members.length; j++) {
            Parameter p = layout.params().get(members[j]);
            long off = layout.offset(b, j) * Float.BYTES;
            long bytes = p.numel() * Float.BYTES;
            Tensor g = p.grad();
            if (g == null) {
                seg.asSlice(off, bytes).fill((byte) 0);
            } else {
                if (g.dtype() != DType.F32) {
                    throw new DistException("GradientSync: gradients must be f32, got " + g.describe());
                }
                MemorySegment.copy(HostBuffers.segment("gradient", g), 0, seg, off, bytes);
            }
        }
        work[b] = group.allReduce(flat[b], ReduceOp.SUM);
    }

    private boolean onDevice(int b) {
        return flat[b].device().kind() != fulgur.tensor.Device.Kind.CPU;
    }

    /** Device-resident gradients (e.g. CUDA with NCCL): packed and unpacked by device copies, never through the host. */
    private void launchOnDevice(int b) {
        try (var off = fulgur.autograd.GradMode.noGrad()) {
            int[] members = layout.members(b);
            for (int j = 0; j < members.length; j++) {
                Parameter p = layout.params().get(members[j]);
                Tensor slot = flat[b].narrow(0, (int) layout.offset(b, j), (int) p.numel());
                Tensor g = p.grad();
                if (g == null) {
                    Backends.of(slot).fill(slot, 0);
                } else {
                    slot.copyFrom(g.reshape(-1));
                }
            }
        }
        work[b] = group.allReduce(flat[b], ReduceOp.SUM);
    }

    private void finishOnDevice(int b) {
        try (var off = fulgur.autograd.GradMode.noGrad();
                Scope s = Scope.open("gradient-sync")) {
            int[] members = layout.members(b);
            for (int j = 0; j < members.length; j++) {
                Parameter p = layout.params().get(members[j]);
                Tensor slot = flat[b].narrow(0, (int) layout.offset(b, j), (int) p.numel())
                        .reshape(p.shape());
                gradientOf(p).copyFrom(scale == 1 ? slot : slot.mul(scale));
            }
        }
    }

    /** The parameter's gradient buffer, made (in the scope that owns the parameter) when it has none. */
    static Tensor gradientOf(Parameter p) {
        Tensor g = p.grad();
        if (g == null) {
            Scope owner = p.value().storage().owner();
            g = (owner == null ? Scope.root() : owner)
                    .run(() -> Tensor.empty(DType.F32, p.value().device(), p.shape()));
            p.value().setGrad(g);
        }
        return g;
    }

    /** Launches the buckets not launched yet (parameters without a gradient count as zeros), waits, writes back. */
    @Override
    public void finish() {
        for (int b : tracker.rest()) {
            launch(b);
        }
        for (int b = 0; b < layout.count(); b++) {
            work[b].await();
            work[b] = null;
            if (onDevice(b)) {
                finishOnDevice(b);
                continue;
            }
            MemorySegment seg = HostBuffers.segment("gradient bucket", flat[b]);
            int[] members = layout.members(b);
            for (int j = 0; j < members.length; j++) {
                Parameter p = layout.params().get(members[j]);
                int n = (int) p.numel();
                float[] v = seg.asSlice(layout.offset(b, j) * Float.BYTES, (long) n * Float.BYTES)
                        .toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
                if (scale != 1) {
                    for (int e = 0; e < n; e++) {
                        v[e] = (float) (v[e] * scale);
                    }
                }
                MemorySegment.copy(
                        v, 0, HostBuffers.segment("gradient", gradientOf(p)), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
            }
        }
    }

    @Override
    public void close() {
        scope.close();
    }
}
