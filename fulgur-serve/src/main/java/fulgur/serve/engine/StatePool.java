package fulgur.serve.engine;

import fulgur.autograd.GradMode;
import fulgur.tensor.Device;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/**
 * The fixed-size states of the sequences an engine runs, preallocated: per state tensor of the model one tensor
 * [slots + 1, ...] on the model's device, a sequence owning one row (its slot) of each. Batched decoding binds the
 * contiguous rows [0, B) in place; the extra last row is scratch for swapping two slots.
 */
final class StatePool implements AutoCloseable {
    private final StateLayout layout;
    private final int slots;
    private final Scope scope = Scope.detached("state-pool");
    private final List<Tensor> pool = new ArrayList<>();

    StatePool(StateLayout layout, int slots, Device device) {
        this.layout = layout;
        this.slots = slots;
        for (StateLayout.Spec s : layout.specs()) {
            int[] shape = new int[s.shape().length + 1];
            shape[0] = slots + 1;
            System.arraycopy(s.shape(), 0, shape, 1, s.shape().length);
            pool.add(scope.run(() -> Tensor.zeros(s.dtype(), device, shape)));
        }
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
            for (Tensor t : pool) {
                t.select(0, to).copyFrom(t.select(0, from));
            }
        }
    }

    /** Exchanges two slots' states. */
    void swap(int a, int b) {
        copy(a, slots);
        copy(b, a);
        copy(slots, b);
    }

    /** A copy of slot's state, allocated in {@code into}. */
    List<Tensor> snapshot(int slot, Scope into) {
        List<Tensor> out = new ArrayList<>(pool.size());
        try (var g = GradMode.noGrad()) {
            for (Tensor t : pool) {
                Tensor row = t.select(0, slot);
                out.add(into.run(() -> row.copy().detach()));
            }
        }
        return out;
    }

    /** Writes a snapshot into a slot. */
    void restore(int slot, List<Tensor> snapshot) {
        try (var g = GradMode.noGrad()) {
            for (int i = 0; i < pool.size(); i++) {
                pool.get(i).select(0, slot).copyFrom(snapshot.get(i));
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
