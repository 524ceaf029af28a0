package fulgur.dist.ddp;

import fulgur.backend.Backends;
import fulgur.autograd.Autograd;
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
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * Data-parallel gradient synchronisation, bucketed and overlapped with the backward pass (as torch's DDP): the
 * parameters are packed, in reverse registration order (roughly the order their gradients are finished), into
 * buckets of about {@code bucketElements} elements; as soon as the backward has finished every gradient of a bucket,
 * the bucket is copied into one flat buffer and its all-reduce (sum) starts, while the backward goes on with the
 * layers below. {@link #finish()} waits for the buckets and writes {@code scale × sum} back into the gradients.
 * Buckets are launched strictly in order, so every rank issues the same collectives in the same order.
 *
 * <p>Used for data parallelism (scale 1/dp: the mean over replicas), for sequence parallelism (scale 1: each rank's
 * gradient is its slice's share of the loss, the sum is the whole) and for both at once over the whole grid
 * (scale 1/dp). Gradients are f32.
 */
public final class GradientSync implements AutoCloseable {
    /** Default bucket size: 1 Mi elements (4 MiB of f32). */
    public static final long DEFAULT_BUCKET_ELEMENTS = 1 << 20;

    private final ProcessGroup group;
    private final double scale;
    private final List<Parameter> params;
    private final Map<Tensor, Integer> index = new IdentityHashMap<>();
    private final int[] bucketOf;
    private final List<Bucket> buckets = new ArrayList<>();
    private final Scope scope = Scope.detached("gradient-sync");
    private int nextToLaunch;
    private boolean inBackward;

    private final class Bucket {
        final List<Integer> members = new ArrayList<>();
        final long[] offsets;
        long elements;
        Tensor flat;
        int ready;
        Work work;

        Bucket(List<Integer> m) {
            members.addAll(m);
            offsets = new long[m.size()];
            for (int i = 0; i < m.size(); i++) {
                offsets[i] = elements;
                elements += params.get(m.get(i)).numel();
            }
        }
    }

    public GradientSync(List<Parameter> parameters, ProcessGroup group, double scale, long bucketElements) {
        if (bucketElements < 1) {
            throw new IllegalArgumentException("GradientSync: bucket size must be >= 1 element, got " + bucketElements);
        }
        this.group = group;
        this.scale = scale;
        this.params = List.copyOf(parameters);
        this.bucketOf = new int[params.size()];
        List<Integer> cur = new ArrayList<>();
        long size = 0;
        for (int i = params.size() - 1; i >= 0; i--) {
            Parameter p = params.get(i);
            if (index.put(p.value(), i) != null) {
                throw new IllegalArgumentException("GradientSync: parameter " + i + " is listed twice");
            }
            cur.add(i);
            size += p.numel();
            if (size >= bucketElements) {
                addBucket(cur);
                cur = new ArrayList<>();
                size = 0;
            }
        }
        if (!cur.isEmpty()) {
            addBucket(cur);
        }
    }

    private void addBucket(List<Integer> members) {
        Bucket b = new Bucket(members);
        for (int m : members) {
            bucketOf[m] = buckets.size();
        }
        buckets.add(b);
        fulgur.tensor.Device d = params.get(members.get(0)).value().device();
        b.flat = scope.run(() -> Tensor.empty(DType.F32, d, fulgur.tensor.Shape.toInt("gradient bucket", b.elements)));
    }

    public int bucketCount() {
        return buckets.size();
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
        start();
        try {
            Autograd.backward(roots, seeds, this::onLeafGradient, free, keep);
        } finally {
            inBackward = false;
        }
        finish();
    }

    public void backward(Tensor loss) {
        backward(loss, true);
    }

    private void start() {
        for (Bucket b : buckets) {
            b.ready = 0;
            b.work = null;
        }
        nextToLaunch = 0;
        inBackward = true;
    }

    private void onLeafGradient(Tensor leaf) {
        Integer i = index.get(leaf);
        if (i == null) {
            return;
        }
        Bucket b = buckets.get(bucketOf[i]);
        b.ready++;
        launchReady();
    }

    private void launchReady() {
        while (nextToLaunch < buckets.size() && buckets.get(nextToLaunch).ready == buckets.get(nextToLaunch).members.size()) {
            launch(buckets.get(nextToLaunch++));
        }
    }

    private void launch(Bucket b) {
        if (onDevice(b)) {
            launchOnDevice(b);
            return;
        }
        MemorySegment flat = HostBuffers.segment("gradient bucket", b.flat);
        for (int j = 0; j < b.members.size(); j++) {
            Parameter p = params.get(b.members.get(j));
            long off = b.offsets[j] * Float.BYTES;
            long bytes = p.numel() * Float.BYTES;
            Tensor g = p.grad();
            if (g == null) {
                flat.asSlice(off, bytes).fill((byte) 0);
            } else {
                if (g.dtype() != DType.F32) {
                    throw new DistException("GradientSync: gradients must be f32, got " + g.describe());
                }
                MemorySegment.copy(HostBuffers.segment("gradient", g), 0, flat, off, bytes);
            }
        }
        b.work = group.allReduce(b.flat, ReduceOp.SUM);
    }

    private static boolean onDevice(Bucket b) {
        return b.flat.device().kind() != fulgur.tensor.Device.Kind.CPU;
    }

    /** Device-resident gradients (e.g. CUDA with NCCL): packed and unpacked by device copies, never through the host. */
    private void launchOnDevice(Bucket b) {
        try (var off = fulgur.autograd.GradMode.noGrad()) {
            for (int j = 0; j < b.members.size(); j++) {
                Parameter p = params.get(b.members.get(j));
                Tensor slot = b.flat.narrow(0, (int) b.offsets[j], (int) p.numel());
                Tensor g = p.grad();
                if (g == null) {
                    Backends.of(slot).fill(slot, 0);
                } else {
                    slot.copyFrom(g.reshape(-1));
                }
            }
        }
        b.work = group.allReduce(b.flat, ReduceOp.SUM);
    }

    private void finishOnDevice(Bucket b) {
        try (var off = fulgur.autograd.GradMode.noGrad(); Scope s = Scope.open("gradient-sync")) {
            for (int j = 0; j < b.members.size(); j++) {
                Parameter p = params.get(b.members.get(j));
                Tensor slot = b.flat.narrow(0, (int) b.offsets[j], (int) p.numel()).reshape(p.shape());
                Tensor g = p.grad();
                if (g == null) {
                    Scope owner = p.value().storage().owner();
                    g = (owner == null ? Scope.root() : owner).run(() -> Tensor.empty(DType.F32, p.value().device(), p.shape()));
                    p.value().setGrad(g);
                }
                g.copyFrom(scale == 1 ? slot : slot.mul(scale));
            }
        }
        b.work = null;
    }

    /** Launches the buckets not launched yet (parameters without a gradient count as zeros), waits, writes back. */
    public void finish() {
        while (nextToLaunch < buckets.size()) {
            launch(buckets.get(nextToLaunch++));
        }
        for (Bucket b : buckets) {
            b.work.await();
            if (onDevice(b)) {
                finishOnDevice(b);
                continue;
            }
            MemorySegment flat = HostBuffers.segment("gradient bucket", b.flat);
            for (int j = 0; j < b.members.size(); j++) {
                Parameter p = params.get(b.members.get(j));
                int n = (int) p.numel();
                float[] v = flat.asSlice(b.offsets[j] * Float.BYTES, (long) n * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED);
                if (scale != 1) {
                    for (int e = 0; e < n; e++) {
                        v[e] = (float) (v[e] * scale);
                    }
                }
                Tensor g = p.grad();
                if (g == null) {
                    Scope owner = p.value().storage().owner();
                    g = (owner == null ? Scope.root() : owner).run(() -> Tensor.empty(DType.F32, p.shape()));
                    p.value().setGrad(g);
                }
                MemorySegment.copy(v, 0, HostBuffers.segment("gradient", g), ValueLayout.JAVA_FLOAT_UNALIGNED, 0, n);
            }
            b.work = null;
        }
    }

    @Override
    public void close() {
        scope.close();
    }
}
