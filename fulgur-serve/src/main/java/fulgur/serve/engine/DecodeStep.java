package fulgur.serve.engine;

import fulgur.backend.Backends;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.StepGraph;
import fulgur.models.BatchState;
import fulgur.models.CausalLM;
import fulgur.models.DecodeCache;
import fulgur.ops.attention.PagedKvCache;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The engine's batched decode forward: rows [0, B) of the state pool advance by one token each in ONE forward of
 * [B, 1] ids, which the recurrent kernels apply to the pool rows in place; only the last position is projected to the
 * vocabulary, and each row's greedy pick is made on the device ({@link BatchLogits}), so a greedy batch costs one
 * upload of B ids and one read of 2·B numbers per step (on the CPU, where the logits are on the host, greedy rows take
 * the sampler's argmax instead).
 *
 * <p>Ids, picks and logits live in fixed device buffers sized for the pool, so the step's device work for one batch
 * size always reads and writes the same memory. On a device that records work ({@link DeviceRuntime#capture}), for a
 * model whose step depends on the host only through the ids ({@link CausalLM#decodeStepCapturable}), the step of a
 * batch size run twice in a row is recorded once as a graph and replayed from then on: one graph launch instead of
 * hundreds of kernel launches, each with the host's per-op work. Up to {@code maxGraphs} batch sizes keep a graph
 * (least recently used dropped). A replay computes what the eager step computes.
 */
final class DecodeStep implements AutoCloseable {
    private final CausalLM model;
    private final StatePool pool;
    private final Device device;
    private final DeviceRuntime runtime;
    private final int maxGraphs;
    private final int pickable;
    /** Whether greedy picks are made on the device (not on the CPU: the sampler reads the host logits there). */
    private final boolean devicePicks;

    private final Scope buffers = Scope.detached("decode-step");
    private final Tensor ids;
    private final Tensor picks;
    private final Map<Integer, StepGraph> graphs = new LinkedHashMap<>(16, 0.75f, true);
    private Tensor logits;
    /** The host copy of the logits on the CPU, reused every step (B·vocab floats: 8 MB for 64 rows of a 32K vocabulary). */
    private float[] hostLogits;

    private boolean capturable;
    private int lastBatch;
    private int streak;

    /**
     * @param maxGraphs batch sizes whose step may be kept as a graph (0: always eager); ignored where the device or the
     *     model cannot record the step
     * @param softmaxLayers whether the model keeps paged keys and values (their block tables change every step)
     * @param pickable the ids greedy picks choose from (the tokenizer's: the model's vocabulary may be padded past it)
     */
    DecodeStep(CausalLM model, StatePool pool, Device device, int maxGraphs, boolean softmaxLayers, int pickable) {
        this.model = model;
        this.pool = pool;
        this.device = device;
        this.runtime = Backends.runtime(device);
        this.maxGraphs = maxGraphs;
        this.pickable = pickable;
        this.devicePicks = device.kind() != Device.Kind.CPU;
        int slots = pool.slots();
        this.ids = buffers.run(() -> Tensor.zeros(DType.I32, device, slots));
        this.picks = buffers.run(() -> Tensor.zeros(DType.F64, device, slots, 2));
        this.capturable =
                maxGraphs > 0 && device.kind() != Device.Kind.CPU && !softmaxLayers && model.decodeStepCapturable();
    }

    /**
     * Advances rows [0, b) by the tokens {@code tokens} (row i at {@code positions[i]}, with its keys and values in
     * {@code kv} for softmax layers) and returns their logits and greedy picks, valid until the next call.
     */
    BatchLogits run(int b, int[] tokens, long[] positions, PagedKvCache.Rows kv) {
        Tensor in = ids.narrow(0, 0, b);
        in.copyFrom(Tensor.ofInts(tokens, b));
        streak = b == lastBatch ? streak + 1 : 1;
        lastBatch = b;
        StepGraph graph = capturable && logits != null ? graphs.get(b) : null;
        if (graph == null && capturable && logits != null && streak >= 2) {
            graph = capture(b, positions);
        }
        if (graph != null) {
            graph.replay();
        } else {
            body(b, positions, kv);
        }
        Tensor out = logits.narrow(0, 0, b);
        if (devicePicks) {
            return new BatchLogits(out, picks.narrow(0, 0, b).toDoubleArray());
        }
        if (hostLogits == null) {
            hostLogits = new float[Math.toIntExact((long) pool.slots() * logits.size(1))];
        }
        return new BatchLogits(out, null, hostLogits);
    }

    /** The step's device work: reads ids and pool rows [0, b), writes the pool rows, logits and picks. */
    private void body(int b, long[] positions, PagedKvCache.Rows kv) {
        try (Scope s = Scope.open("decode-step")) {
            Tensor in = ids.narrow(0, 0, b).reshape(b, 1);
            BatchState batch = new BatchState(pool.rows(0, b), positions, false, kv);
            try (DecodeCache c = model.newCache(batch)) {
                Tensor out = model.lastLogits(in, c);
                if (logits == null) {
                    // the first (eager) step sizes the buffer for every batch; graphs are recorded only after it
                    logits = buffers.run(() -> Tensor.empty(out.dtype(), device, pool.slots(), out.size(1)));
                }
                logits.narrow(0, 0, b).copyFrom(out);
                if (devicePicks) {
                    BatchLogits.pickInto(out, pickable, picks.narrow(0, 0, b));
                }
            }
        }
    }

    /** Records the step of batch size b (dropping the least recently used graph beyond the limit); null if it cannot be. */
    private StepGraph capture(int b, long[] positions) {
        StepGraph g;
        try {
            g = runtime.capture(() -> body(b, positions, null));
        } catch (IllegalStateException | UnsupportedOperationException e) {
            // nothing of a failed capture ran: this step and the later ones run eagerly
            capturable = false;
            return null;
        }
        graphs.put(b, g);
        if (graphs.size() > maxGraphs) {
            Iterator<StepGraph> oldest = graphs.values().iterator();
            oldest.next().close();
            oldest.remove();
        }
        return g;
    }

    /** Batch sizes whose step is kept as a graph. */
    int graphs() {
        return graphs.size();
    }

    @Override
    public void close() {
        for (StepGraph g : graphs.values()) {
            g.close();
        }
        graphs.clear();
        buffers.close();
    }
}
