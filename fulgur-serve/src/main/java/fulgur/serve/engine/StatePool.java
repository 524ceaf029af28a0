package fulgur.serve.engine;

import fulgur.autograd.GradMode;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The fixed-size states of the sequences an engine runs, preallocated: per state tensor of the model one tensor
 * [slots + 1, ...] on the model's device, a sequence owning one row (its slot) of each. Batched decoding binds the
 * contiguous rows [0, B) in place; the extra last row is scratch for swapping two slots.
 *
 * <p>State tensors of one dtype and shape (every layer's, in a model of one kind of layer) are views of one
 * allocation [tensors, slots + 1, ...], so moving a sequence between slots (as sequences join and leave the
 * decoding rows) is one strided copy of every layer's state, not one copy per layer.
 */
final class StatePool implements AutoCloseable {
    private final StateLayout layout;
    private final int slots;
    private final Scope scope = Scope.detached("state-pool");
    /** Per state tensor of the model, in its order: a view [slots + 1, ...] of its group. */
    private final List<Tensor> pool;
    /** One allocation [tensors, slots + 1, ...] per dtype and shape. */
    private final List<Tensor> groups = new ArrayList<>();

    StatePool(StateLayout layout, int slots, Device device) {
        this.layout = layout;
        this.slots = slots;
        List<StateLayout.Spec> specs = layout.specs();
        Map<String, List<Integer>> byKind = new LinkedHashMap<>();
        for (int i = 0; i < specs.size(); i++) {
            StateLayout.Spec s = specs.get(i);
            byKind.computeIfAbsent(s.dtype() + Arrays.toString(s.shape()), k -> new ArrayList<>())
                    .add(i);
        }
        Tensor[] views = new Tensor[specs.size()];
        for (List<Integer> members : byKind.values()) {
            StateLayout.Spec s = specs.get(members.get(0));
            int[] shape = new int[s.shape().length + 2];
            shape[0] = members.size();
            shape[1] = slots + 1;
            System.arraycopy(s.shape(), 0, shape, 2, s.shape().length);
            Tensor group = scope.run(() -> Tensor.zeros(s.dtype(), device, shape));
            groups.add(group);
            for (int j = 0; j < members.size(); j++) {
                int at = j;
                views[members.get(j)] = scope.run(() -> group.select(0, at));
            }
        }
        pool = List.of(views);
    }

    int slots() {
        return slots;
    }

    /** Views of rows [start, start + count) of every state tensor, in the model's order. */
    List<Tensor> rows(int start, int count) {
        List<Tensor> out = new ArrayList<>(pool.size());
        for (Tensor t : pool) {
            out.add(t.narrow(0, start, count));
        }
        return out;
    }

    /** Copies slot {@code from}'s state into slot {@code to}. */
    void copy(int from, int to) {
        if (from == to) {
            return;
        }
        try (var g = GradMode.noGrad()) {
            for (Tensor t : groups) {
                t.select(1, to).copyFrom(t.select(1, from));
            }
        }
    }

    /** Exchanges two slots' states. */
    void swap(int a, int b) {
        copy(a, slots);
        copy(b, a);
        copy(slots, b);
    }

    /** A copy of slot's state (one tensor per group of state tensors), allocated in {@code into}. */
    List<Tensor> snapshot(int slot, Scope into) {
        List<Tensor> out = new ArrayList<>(groups.size());
        try (var g = GradMode.noGrad()) {
            for (Tensor t : groups) {
                Tensor row = t.select(1, slot);
                out.add(into.run(() -> row.copy().detach()));
            }
        }
        return out;
    }

    /** Writes a {@link #snapshot} into a slot. */
    void restore(int slot, List<Tensor> snapshot) {
        try (var g = GradMode.noGrad()) {
            for (int i = 0; i < groups.size(); i++) {
                groups.get(i).select(1, slot).copyFrom(snapshot.get(i));
            }
        }
    }

    long slotBytes() {
        return layout.slotBytes();
    }

    /** Bytes the pool holds (every slot, used or not). */
    long bytes() {
        return layout.slotBytes() * (slots + 1L);
    }

    @Override
    public void close() {
        scope.close();
    }
}
