package fulgur.train;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.backend.BinaryOp;
import fulgur.layers.RoutingTotals;
import fulgur.models.CausalLM;
import fulgur.models.SequenceShard;
import fulgur.models.StateCarry;
import fulgur.models.StateCarry.Slot;
import fulgur.ops.Elementwise;
import fulgur.ops.Losses;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Forward and backward of a causal LM's mean loss over sequences too long for one pass, {@code chunk} tokens at a time
 * through the whole model. A linear-attention model's only link across time is each layer's fixed-size state, so:
 * <ol>
 *   <li>a first pass without gradients walks the chunks in order through the layers alone (no output projection, no
 *       loss), keeping nothing but the layers' states at each chunk boundary ({@link StateCarry});</li>
 *   <li>the backward walks the chunks in reverse: each chunk's forward runs again from its saved boundary states (made
 *       leaves), then one backward from its share of the loss and from its final states, seeded with the gradients the
 *       chunk after it gave its initial states; those of this chunk's initial states go to the chunk before.</li>
 * </ol>
 * Loss and every gradient are those of one pass over the whole sequence (to rounding); the cost is one more forward of
 * the layers; the memory is one chunk's activations plus the boundary states (kept in host memory when the model is
 * on a GPU). Softmax layers of hybrid models carry the keys and values of every earlier chunk, which grow with the
 * sequence. MoE load balancing is exact: the first pass counts the routing of the whole sequence
 * ({@link RoutingTotals}).
 */
public final class ChunkedStep {

    /**
     * The mean loss, the states after the last token (when asked for), the gradients of the initial states (empty when
     * none were given), and the bytes of the states that grow with the sequence (keys and values of softmax layers)
     * at its end.
     *
     * @param loss the mean loss of the sequence, a scalar
     * @param finalStates the states after the last token, or empty
     * @param initialStateGrads the gradients of the initial states, or empty
     * @param growingStateBytes the bytes of growing states at the end
     */
    public record Result(
            Tensor loss, Map<Slot, Tensor> finalStates, Map<Slot, Tensor> initialStateGrads, long growingStateBytes) {}

    /**
     * Where this process's chunks sit in the sequence and how the states pass between them: one device by default;
     * sequence parallelism spreads each chunk over ranks and passes the states between the ranks.
     */
    public interface Link {
        /**
         * The shard of a chunk of {@code length} tokens whose first token sits at {@code position} of the whole sequence,
         * continuing from {@code carry}.
         *
         * @param position the chunk's first whole-sequence position
         * @param length the chunk's tokens
         * @param carry the states the chunk continues from and leaves
         * @return the shard
         */
        default SequenceShard shard(long position, int length, StateCarry carry) {
            return SequenceShard.chunk(position, carry);
        }

        /**
         * The whole-sequence position of chunk c's first token when the call's first token sits at {@code start}.
         *
         * @param start the call's first position
         * @param plan the chunks
         * @param c the chunk index
         * @return the position
         */
        default long position(long start, ChunkPlan plan, int c) {
            return start + plan.start(c);
        }

        /**
         * The states entering chunk c + 1, from the states chunk c left (allocated in the current scope).
         *
         * @param finals the states chunk c left
         * @param c the chunk index
         * @return the states entering chunk c + 1
         */
        default Map<Slot, Tensor> handOn(Map<Slot, Tensor> finals, int c) {
            return finals;
        }

        /**
         * The gradients of the states chunk c left, from those of the states entering chunk c + 1.
         *
         * @param grads the gradients of the states entering chunk c + 1
         * @param c the chunk index
         * @return the gradients of the states chunk c left
         */
        default Map<Slot, Tensor> handBack(Map<Slot, Tensor> grads, int c) {
            return grads;
        }

        /**
         * One chunk's backward; {@code last} for the last backward of the step (chunk 0).
         *
         * @param roots the chunk's loss and final states
         * @param seeds their gradients
         * @param last whether this is the step's last backward
         * @param keep a forward tensor whose storage must survive
         */
        default void backward(List<Tensor> roots, List<Tensor> seeds, boolean last, Tensor keep) {
            Autograd.backward(roots, seeds, null, Autograd.Free.GRADIENTS_AND_ACTIVATIONS, keep);
        }
    }

    /** One device. */
    public static final Link LOCAL = new Link() {};

    private final CausalLM model;
    private final int chunk;
    private final Link link;

    /**
     * A step over one device.
     *
     * @param model the model, which must carry states
     * @param chunk the tokens per chunk, ≥ 1
     * @throws UnsupportedOperationException when the model does not carry states between chunks
     * @throws IllegalArgumentException when {@code chunk} &lt; 1
     */
    public ChunkedStep(CausalLM model, int chunk) {
        this(model, chunk, LOCAL);
    }

    /**
     * A step whose chunks hand states on through {@code link} (e.g. across the ranks of a pipeline).
     *
     * @param model the model, which must carry states
     * @param chunk the tokens per chunk, ≥ 1
     * @param link how states and gradients pass between chunks
     * @throws UnsupportedOperationException when the model does not carry states between chunks
     * @throws IllegalArgumentException when {@code chunk} &lt; 1
     */
    public ChunkedStep(CausalLM model, int chunk, Link link) {
        if (!model.carriesStates()) {
            throw new UnsupportedOperationException(model.getClass().getSimpleName()
                    + " does not carry its layers' states from one chunk of a sequence to the next;"
                    + " train it without sequence chunks");
        }
        if (chunk < 1) {
            throw new IllegalArgumentException("sequence chunks: the chunk length must be >= 1 token, got " + chunk);
        }
        this.model = model;
        this.chunk = chunk;
        this.link = link;
    }

    /** {@return the tokens per chunk} */
    public int chunk() {
        return chunk;
    }

    /**
     * Forward and backward of the mean next-token loss of {@code inputs} [B, T] against {@code targets} ([B, T] or
     * [B·T], −100 ignored), from no initial states; parameter gradients accumulate, multiplied by {@code scale}.
     *
     * @param inputs token ids [B, T]
     * @param targets next tokens, [B, T] or [B·T]
     * @param scale the factor on the gradients
     * @return the loss and the bytes of growing states
     */
    public Result run(Tensor inputs, Tensor targets, double scale) {
        return run(inputs, targets, Map.of(), 0, scale, false, null);
    }

    /**
     * The general form: the sequence starts from {@code initial} states at position {@code start}; the final states are
     * returned when asked for; the counted targets of the whole sequence are {@code countedTotal} (a one-element tensor
     * on the model's device; null: those of {@code targets}). The gradients of the initial states come back in the
     * result.
     *
     * @param inputs token ids [B, T]
     * @param targets next tokens, [B, T] or [B·T]
     * @param initial the states the sequence starts from, by slot (empty: zeros)
     * @param start the whole-sequence position of the first token
     * @param scale the factor on the gradients
     * @param wantFinalStates whether to return the states after the last token
     * @param countedTotal the counted targets of the whole sequence, or null
     * @return the loss, states and state gradients
     */
    public Result run(
            Tensor inputs,
            Tensor targets,
            Map<Slot, Tensor> initial,
            long start,
            double scale,
            boolean wantFinalStates,
            Tensor countedTotal) {
        String op = "sequence chunks";
        Tensor ids = checkInputs(op, inputs);
        Tensor tg = checkTargets(op, ids, targets);
        ChunkPlan plan = new ChunkPlan(ids.size(1), chunk);
        Tensor[] weights = weights(tg, plan, countedTotal);
        RoutingTotals routing = plan.count() > 1 ? new RoutingTotals() : null;
        try (Boundaries saved = new Boundaries(ids.device().kind() != Device.Kind.CPU)) {
            saveBoundaries(ids, plan, initial, start, routing, saved);
            return backward(ids, tg, plan, initial, start, scale, wantFinalStates, weights, routing, saved);
        }
    }

    /**
     * The first pass: the chunks in order through the layers alone, without gradients, keeping the states entering every
     * chunk but the first (the last chunk runs too when the model routes tokens: its routing counts).
     */
    private void saveBoundaries(
            Tensor ids,
            ChunkPlan plan,
            Map<Slot, Tensor> initial,
            long start,
            RoutingTotals routing,
            Boundaries saved) {
        int n = plan.count();
        try (Relay states = new Relay("chunk states")) {
            Map<Slot, Tensor> entering = initial;
            int counted = n - 1;
            for (int c = 0; c < counted; c++) {
                if (c > 0) {
                    saved.keep(c, entering);
                }
                Scope next = states.next();
                try (Scope s = Scope.open("chunk forward");
                        var g = GradMode.noGrad()) {
                    StateCarry carry = new StateCarry(entering, null, routing);
                    model.advanceStates(
                            slice(ids, plan, c), link.shard(link.position(start, plan, c), plan.length(c), carry));
                    saved.keepAppended(c, carry);
                    Map<Slot, Tensor> copies = next.run(() -> copies(carry.finals()));
                    int at = c;
                    entering = next.run(() -> link.handOn(copies, at));
                }
                states.advance();
                if (c == 0 && !routing.isEmpty()) {
                    counted = n; // the model routes tokens: count the last chunk too
                }
            }
            if (counted == n - 1 && n > 1) {
                saved.keep(n - 1, entering);
            }
        }
        if (routing != null) {
            routing.fix();
        }
    }

    /** The second pass: the chunks in reverse, each run again from its saved states and differentiated. */
    private Result backward(
            Tensor ids,
            Tensor tg,
            ChunkPlan plan,
            Map<Slot, Tensor> initial,
            long start,
            double scale,
            boolean wantFinalStates,
            Tensor[] weights,
            RoutingTotals routing,
            Boundaries saved) {
        int n = plan.count();
        Device device = ids.device();
        Scope caller = Scope.current();
        Tensor total = Tensor.zeros(DType.F64, device);
        Map<Slot, Tensor> finals = Map.of();
        long growing = 0;
        try (Relay stateGrads = new Relay("chunk state gradients")) {
            Map<Slot, Tensor> grads = Map.of();
            for (int c = n - 1; c >= 0; c--) {
                Scope next = stateGrads.next();
                try (Scope s = Scope.open("chunk backward")) {
                    Map<Slot, Tensor> leaves = new LinkedHashMap<>();
                    saved.entering(c, initial, device)
                            .forEach((slot, t) -> leaves.put(slot, t.detach().requiresGrad(true)));
                    StateCarry carry = new StateCarry(leaves, weights[c], routing);
                    Tensor loss = model.loss(
                            slice(ids, plan, c),
                            slice(tg, plan, c).reshape(-1),
                            link.shard(link.position(start, plan, c), plan.length(c), carry));
                    List<Tensor> roots = new ArrayList<>();
                    List<Tensor> seeds = new ArrayList<>();
                    roots.add(scale == 1 ? loss : Elementwise.mulScalar(loss, scale));
                    seeds.add(null);
                    for (Map.Entry<Slot, Tensor> e : grads.entrySet()) {
                        Tensor f = carry.finals().get(e.getKey());
                        if (f == null) {
                            throw new IllegalStateException("sequence chunks: chunk " + c + " left no " + e.getKey()
                                    + " for the chunk after it");
                        }
                        if (f.requiresGrad()) {
                            roots.add(f);
                            seeds.add(e.getValue());
                        }
                    }
                    if (c == n - 1) {
                        if (wantFinalStates) {
                            finals = caller.run(() -> copies(carry.finals()));
                        }
                        for (Map.Entry<Slot, Tensor> e : carry.finals().entrySet()) {
                            growing += carry.isAppending(e.getKey())
                                    ? e.getValue().numel()
                                            * e.getValue().dtype().byteSize()
                                    : 0;
                        }
                    }
                    link.backward(roots, seeds, c == 0, loss);
                    total.copyFrom(total.add(loss.detach().to(DType.F64)));
                    Map<Slot, Tensor> mine = next.run(() -> {
                        Map<Slot, Tensor> m = new LinkedHashMap<>();
                        leaves.forEach((slot, leaf) -> {
                            if (leaf.grad() != null) {
                                m.put(slot, leaf.grad().detach().copy());
                            }
                        });
                        return m;
                    });
                    int at = c - 1;
                    grads = c > 0 ? next.run(() -> link.handBack(mine, at)) : mine;
                }
                stateGrads.advance();
            }
            Map<Slot, Tensor> initialGrads = new LinkedHashMap<>();
            if (!initial.isEmpty()) {
                grads.forEach((slot, g) -> initialGrads.put(slot, caller.run(g::copy)));
            }
            return new Result(total, finals, initialGrads, growing);
        }
    }

    /**
     * The mean loss of {@code inputs} against {@code targets} walked in chunks without gradients (evaluation): one pass
     * carrying the states forward, two for models with MoE layers (the first counts the routing).
     *
     * @param inputs token ids [B, T]
     * @param targets next tokens, [B, T] or [B·T]
     * @return the mean loss, a scalar
     */
    public Tensor loss(Tensor inputs, Tensor targets) {
        String op = "sequence chunks";
        Tensor ids = checkInputs(op, inputs);
        Tensor tg = checkTargets(op, ids, targets);
        ChunkPlan plan = new ChunkPlan(ids.size(1), chunk);
        try (var g = GradMode.noGrad()) {
            Tensor[] weights = weights(tg, plan, null);
            RoutingTotals routing = plan.count() > 1 ? new RoutingTotals() : null;
            Tensor total = walk(ids, tg, plan, weights, routing, true);
            if (total == null) { // the model routes tokens: count the whole sequence's routing first
                RoutingTotals counted = new RoutingTotals();
                walk(ids, tg, plan, weights, counted, false);
                counted.fix();
                total = walk(ids, tg, plan, weights, counted, true);
            }
            return total;
        }
    }

    /**
     * One pass over the chunks in order, carrying the states: the summed chunk losses when {@code withLoss}, else the
     * layers alone (counting the routing). Null when a loss pass finds, after the first chunk, that unfixed routing
     * totals are being counted (the model routes tokens and needs a counting pass first).
     */
    private Tensor walk(
            Tensor ids, Tensor tg, ChunkPlan plan, Tensor[] weights, RoutingTotals routing, boolean withLoss) {
        Tensor total = Tensor.zeros(DType.F64, ids.device());
        try (Relay states = new Relay("chunk states")) {
            Map<Slot, Tensor> entering = Map.of();
            for (int c = 0; c < plan.count(); c++) {
                Scope next = states.next();
                try (Scope s = Scope.open("chunk loss")) {
                    StateCarry carry = new StateCarry(entering, weights[c], routing);
                    SequenceShard shard = link.shard(link.position(0, plan, c), plan.length(c), carry);
                    if (withLoss) {
                        total.copyFrom(total.add(model.loss(
                                        slice(ids, plan, c), slice(tg, plan, c).reshape(-1), shard)
                                .to(DType.F64)));
                    } else {
                        model.advanceStates(slice(ids, plan, c), shard);
                    }
                    if (withLoss && c == 0 && routing != null && !routing.isFixed() && !routing.isEmpty()) {
                        total.close();
                        return null;
                    }
                    Map<Slot, Tensor> copies = next.run(() -> copies(carry.finals()));
                    int at = c;
                    entering = next.run(() -> link.handOn(copies, at));
                }
                states.advance();
            }
        }
        return total;
    }

    /**
     * Each chunk's share of the counted targets: its count over the whole count, as views of one device buffer (no host
     * read; one buffer, whatever the number of chunks).
     */
    private static Tensor[] weights(Tensor targets, ChunkPlan plan, Tensor countedTotal) {
        if (countedTotal != null && countedTotal.numel() != 1) {
            throw new IllegalArgumentException(
                    "sequence chunks: the count of targets must be one number, got " + countedTotal.describe());
        }
        int n = plan.count();
        Tensor shares = Tensor.empty(DType.F64, targets.device(), n);
        try (Scope tmp = Scope.open("chunk weights");
                var g = GradMode.noGrad()) {
            Tensor valid = Elementwise.compare(
                            BinaryOp.NE, targets, Tensor.full(targets.dtype(), targets.device(), Losses.IGNORE_INDEX))
                    .to(DType.F64);
            Tensor all = countedTotal != null
                    ? Views.reshape(countedTotal.to(DType.F64), new int[0])
                    : Reductions.sum(valid);
            Tensor denominator = Elementwise.maximum(
                    all, Tensor.full(DType.F64, targets.device(), 1.0)); // no counted target: every share 0
            for (int c = 0; c < n; c++) {
                Views.reshape(Views.narrow(shares, 0, c, 1), new int[0])
                        .copyFrom(Elementwise.div(Reductions.sum(slice(valid, plan, c)), denominator));
            }
        }
        Tensor[] w = new Tensor[n];
        for (int c = 0; c < n; c++) {
            w[c] = Views.reshape(Views.narrow(shares, 0, c, 1), new int[0]);
        }
        return w;
    }

    private static Tensor slice(Tensor x, ChunkPlan plan, int c) {
        int start = (int) plan.start(c);
        int len = plan.length(c);
        if (start == 0 && len == x.size(1)) {
            return x;
        }
        return Views.narrow(x, 1, start, len).contiguous();
    }

    private static Map<Slot, Tensor> copies(Map<Slot, Tensor> states) {
        Map<Slot, Tensor> m = new LinkedHashMap<>();
        states.forEach((slot, t) -> m.put(slot, t.detach().copy()));
        return m;
    }

    private static Tensor checkInputs(String op, Tensor inputs) {
        if (inputs.ndim() != 2) {
            throw new IllegalArgumentException(op + ": expected token ids [B, T], got " + inputs.describe());
        }
        return inputs;
    }

    private static Tensor checkTargets(String op, Tensor ids, Tensor targets) {
        if (targets.numel() != ids.numel()) {
            throw new IllegalArgumentException(
                    op + ": " + targets.describe() + " targets for the " + ids.describe() + " inputs");
        }
        return targets.ndim() == 2 ? targets : targets.reshape(ids.size(0), ids.size(1));
    }

    /**
     * The scope of the states handed from one chunk to the next: {@link #next} opens the one the chunk fills,
     * {@link #advance} frees the previous one once the chunk is done; closing frees whatever is left.
     */
    private static final class Relay implements AutoCloseable {
        private final String name;
        private Scope current;
        private Scope next;

        Relay(String name) {
            this.name = name;
        }

        Scope next() {
            next = Scope.detached(name);
            return next;
        }

        void advance() {
            if (current != null) {
                current.close();
            }
            current = next;
            next = null;
        }

        @Override
        public void close() {
            for (Scope s : new Scope[] {current, next}) {
                if (s != null) {
                    s.close();
                }
            }
        }
    }

    /**
     * The states saved at the chunk boundaries: the fixed-size ones entering each chunk, and for the growing ones (keys
     * and values) only the piece each chunk added. In host memory when the model is on a GPU.
     */
    private static final class Boundaries implements AutoCloseable {
        private final boolean offload;
        private final Scope scope = Scope.detached("chunk boundaries");
        private final List<Map<Slot, Tensor>> fixed = new ArrayList<>();
        private final Map<Slot, List<Tensor>> pieces = new LinkedHashMap<>();
        private final Set<Slot> appending = new LinkedHashSet<>();

        Boundaries(boolean offload) {
            this.offload = offload;
        }

        /** Keeps the fixed-size states entering chunk c. */
        void keep(int c, Map<Slot, Tensor> entering) {
            while (fixed.size() <= c) {
                fixed.add(null);
            }
            Map<Slot, Tensor> m = new LinkedHashMap<>();
            scope.run(() -> {
                entering.forEach((slot, t) -> {
                    if (!appending.contains(slot)) {
                        m.put(slot, store(t));
                    }
                });
                return null;
            });
            fixed.set(c, m);
        }

        /** Keeps the pieces chunk c appended to the growing states. */
        void keepAppended(int c, StateCarry carry) {
            scope.run(() -> {
                carry.finals().forEach((slot, t) -> {
                    int len = carry.appendedLength(slot);
                    if (len >= 0) {
                        appending.add(slot);
                        List<Tensor> list = pieces.computeIfAbsent(slot, k -> new ArrayList<>());
                        while (list.size() < c) {
                            list.add(null);
                        }
                        list.add(store(Views.narrow(t, 1, t.size(1) - len, len)));
                    }
                });
                return null;
            });
        }

        private Tensor store(Tensor t) {
            return offload ? t.detach().to(Device.CPU) : t.detach().copy();
        }

        /** The states entering chunk c, fresh tensors on {@code device} in the current scope. */
        Map<Slot, Tensor> entering(int c, Map<Slot, Tensor> initial, Device device) {
            Map<Slot, Tensor> m = new LinkedHashMap<>();
            if (c == 0) {
                initial.forEach((slot, t) -> m.put(slot, t.detach().copy()));
                return m;
            }
            if (c < fixed.size() && fixed.get(c) != null) {
                fixed.get(c).forEach((slot, t) -> m.put(slot, onDevice(t, device)));
            }
            for (Slot slot : appending) {
                List<Tensor> parts = new ArrayList<>();
                Tensor first = initial.get(slot);
                if (first != null) {
                    parts.add(first.detach());
                }
                List<Tensor> list = pieces.getOrDefault(slot, List.of());
                for (int i = 0; i < c && i < list.size(); i++) {
                    if (list.get(i) != null) {
                        parts.add(onDevice(list.get(i), device));
                    }
                }
                if (!parts.isEmpty()) {
                    m.put(
                            slot,
                            parts.size() == 1 ? parts.get(0).copy() : Views.concat(1, parts.toArray(Tensor[]::new)));
                }
            }
            return m;
        }

        private static Tensor onDevice(Tensor t, Device device) {
            return t.device().equals(device) ? t.detach().copy() : t.detach().to(device);
        }

        @Override
        public void close() {
            scope.close();
        }
    }
}
