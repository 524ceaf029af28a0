package fulgur.models;

import fulgur.layers.RoutingTotals;
import fulgur.ops.Views;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningAttentionOp;
import fulgur.tensor.Tensor;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What one model call over a chunk of a longer sequence continues from and hands on: per layer, the tensors its token
 * mixer carries across time. A linear-attention model's only link across time is such a state of fixed size
 * (lightning and GLA states [B, H, dk, dv], LightNet's (S, z), LCSM's memory [B, k, d], the last K − 1 inputs of a
 * short convolution); a softmax layer's link is the keys and values of every earlier token, which grow with the
 * sequence ({@link #isAppending}). Unlike a decoding cache, nothing is detached: gradients flow into the initial states
 * and out of the final ones, so a long sequence can be trained a chunk at a time (LASP's idea with time chunks in place
 * of ranks). The call reads {@link #initial} states (null: the start of a sequence, zeros) and leaves {@link #finals};
 * each layer reads and writes its own slots once per call.
 *
 * <p>A carry also holds what the whole sequence's loss needs beyond the chunk: the weight of the chunk's mean
 * cross-entropy (its share of the counted targets) and the MoE routing totals.
 */
public final class StateCarry {
    /** The state a linear-attention (lightning) layer carries. */
    public static final String LIGHTNING = "lightning";
    /** The keys and values of a softmax layer (they grow with the sequence). */
    public static final String KEYS = "keys";
    /** The values of a softmax layer (they grow with the sequence). */
    public static final String VALUES = "values";

    /**
     * One state tensor: a layer and the name of the part it carries.
     *
     * @param layer the layer index
     * @param part {@link #LIGHTNING}, {@link #KEYS}, {@link #VALUES} or another name a layer uses
     */
    public record Slot(int layer, String part) {
        @Override
        public String toString() {
            return "layer " + layer + " " + part;
        }
    }

    private final Map<Slot, Tensor> initial;
    private final Map<Slot, Tensor> finals = new LinkedHashMap<>();
    private final Map<Slot, Integer> appended = new HashMap<>();
    private final Tensor lossWeight;
    private final RoutingTotals routing;

    /**
     * A carry from {@code initial} states (empty: the start of a sequence), unweighted, without routing totals.
     *
     * @param initial the states to start from, by slot
     */
    public StateCarry(Map<Slot, Tensor> initial) {
        this(initial, null, null);
    }

    /**
     * A carry from {@code initial} states, weighted, with the whole sequence's routing totals.
     *
     * @param initial the states to start from, by slot
     * @param lossWeight a one-element tensor the call's mean cross-entropy is multiplied by (null: 1)
     * @param routing the MoE routing totals of the whole sequence (null: the chunk's own routing)
     */
    public StateCarry(Map<Slot, Tensor> initial, Tensor lossWeight, RoutingTotals routing) {
        this.initial = Collections.unmodifiableMap(new LinkedHashMap<>(initial));
        this.lossWeight = lossWeight;
        this.routing = routing;
    }

    /**
     * The state of {@code layer}'s {@code part} the call starts from, or null (zeros, no earlier tokens).
     *
     * @param layer the layer index
     * @param part the part's name
     * @return the state, or null
     */
    public Tensor initial(int layer, String part) {
        return initial.get(new Slot(layer, part));
    }

    /** {@return the states the call starts from, by slot (unmodifiable)} */
    public Map<Slot, Tensor> initialStates() {
        return initial;
    }

    /**
     * Leaves {@code state} as {@code layer}'s {@code part} after this call.
     *
     * @param layer the layer index
     * @param part the part's name
     * @param state the state after this call
     * @throws IllegalStateException when the slot was already carried in this call
     */
    public void carry(int layer, String part, Tensor state) {
        Slot s = new Slot(layer, part);
        if (finals.putIfAbsent(s, state) != null) {
            throw new IllegalStateException(
                    "state carry: " + s + " was carried twice in one call (each layer runs once per call)");
        }
    }

    /**
     * Leaves {@code all} [B, P + n, ...] as the part after this call: the initial [B, P, ...] followed by the call's own
     * {@code n} positions (keys and values). Only those n need keeping between chunks.
     *
     * @param layer the layer index
     * @param part the part's name
     * @param all the initial positions followed by the call's [B, P + n, ...]
     * @param n the call's own positions
     */
    public void carryAppended(int layer, String part, Tensor all, int n) {
        carry(layer, part, all);
        appended.put(new Slot(layer, part), n);
    }

    /**
     * Whether the slot grows along axis 1 with every call (keys and values), and by how much in this call; -1 if not.
     *
     * @param slot the slot
     * @return the call's length, or -1
     */
    public int appendedLength(Slot slot) {
        return appended.getOrDefault(slot, -1);
    }

    /**
     * {@return whether the slot grows with every call (keys and values)}
     *
     * @param slot the slot
     */
    public boolean isAppending(Slot slot) {
        return appended.containsKey(slot);
    }

    /**
     * The states after this call, in the order the layers left them.
     *
     * @return the states by slot
     */
    public Map<Slot, Tensor> finals() {
        return Collections.unmodifiableMap(finals);
    }

    /**
     * The weight of the call's mean cross-entropy in the whole sequence's, or null (1).
     *
     * @return the weight, or null
     */
    public Tensor lossWeight() {
        return lossWeight;
    }

    /**
     * The routing totals of the whole sequence, or null.
     *
     * @return the totals, or null
     */
    public RoutingTotals routing() {
        return routing;
    }

    /**
     * Lightning attention of {@code layer} through {@code op}, continuing from this carry's state and leaving the new
     * one.
     *
     * @param layer the layer index
     * @param op the op that computes the attention
     * @return the op that continues from and leaves this carry's state
     */
    public LightningAttentionOp lightning(int layer, LightningAttentionOp op) {
        return (q, k, v, slopes, scale) -> {
            Lightning.Result r = op.applyWithStates(q, k, v, slopes, scale, initial(layer, LIGHTNING), true);
            if (r.finalState() != null) {
                carry(layer, LIGHTNING, r.finalState());
            }
            return r.output();
        };
    }

    /**
     * Causal softmax attention of {@code layer} over the keys and values of every earlier call (kept in the carry) and
     * this one's: the queries sit after the P earlier positions.
     *
     * @param layer the layer index
     * @param op the op that computes the attention
     * @return the op over the carried keys and values
     * @throws UnsupportedOperationException when {@code op} spans ranks
     */
    public SoftmaxAttentionOp softmax(int layer, SoftmaxAttentionOp op) {
        if (op != SoftmaxAttentionOp.LOCAL) {
            throw new UnsupportedOperationException(
                    "softmax attention across ranks does not carry keys and values from one chunk to the next");
        }
        return (q, k, v, scale, causal) -> {
            Tensor k0 = initial(layer, KEYS);
            Tensor v0 = initial(layer, VALUES);
            if ((k0 == null) != (v0 == null)) {
                throw new IllegalArgumentException("state carry: layer " + layer + " has "
                        + (k0 == null ? "values" : "keys") + " but not " + (k0 == null ? "keys" : "values"));
            }
            Tensor keys = k0 == null ? k : Views.concat(1, k0.dtype() == k.dtype() ? k0 : k0.to(k.dtype()), k);
            Tensor values = v0 == null ? v : Views.concat(1, v0.dtype() == v.dtype() ? v0 : v0.to(v.dtype()), v);
            Tensor o = SoftmaxAttention.attention(q, keys, values, scale, causal, k0 == null ? 0 : k0.size(1));
            carryAppended(layer, KEYS, keys, k.size(1));
            carryAppended(layer, VALUES, values, v.size(1));
            return o;
        };
    }
}
