package fulgur.models;

import fulgur.ops.attention.PagedKvCache;
import fulgur.tensor.Tensor;
import java.util.List;

/**
 * What a batched forward continues from ({@link CausalLM#newCache(BatchState)}): B sequences whose fixed-size states
 * are rows of a state pool — views [B, ...] that the forward reads and writes in place, in the order the model's
 * {@link DecodeCache#stateTensors()} lists them — each at its own position, and for models with softmax layers the
 * rows' paged keys and values. {@code fresh} marks rows that have seen no token yet (their views are ignored and
 * written, as a new cache's null states would be).
 */
public final class BatchState {
    private final List<Tensor> states;
    private final long[] positions;
    private final boolean fresh;
    private final PagedKvCache.Rows kv;

    /**
     * Binds B rows.
     *
     * @param states the state views, each [B, ...], in the model's {@link DecodeCache#stateTensors()} order
     * @param positions the tokens each row has consumed [B]
     * @param fresh whether the rows have seen no token yet
     * @param kv the rows' paged keys and values, or null for a model without softmax layers
     * @throws IllegalArgumentException when there is no row, or a state or the KV rows do not hold B rows
     */
    public BatchState(List<Tensor> states, long[] positions, boolean fresh, PagedKvCache.Rows kv) {
        if (positions.length == 0) {
            throw new IllegalArgumentException("BatchState: no rows");
        }
        for (Tensor t : states) {
            if (t.ndim() < 1 || t.size(0) != positions.length) {
                throw new IllegalArgumentException(
                        "BatchState: state " + t.describe() + " does not hold " + positions.length + " rows");
            }
        }
        if (kv != null && kv.batch() != positions.length) {
            throw new IllegalArgumentException(
                    "BatchState: " + kv.batch() + " KV rows for " + positions.length + " rows");
        }
        this.states = List.copyOf(states);
        this.positions = positions.clone();
        this.fresh = fresh;
        this.kv = kv;
    }

    /**
     * Rows (sequences).
     *
     * @return B
     */
    public int batch() {
        return positions.length;
    }

    /**
     * State view {@code i} [B, ...].
     *
     * @param i the index in the model's state order
     * @return the view
     */
    public Tensor state(int i) {
        return states.get(i);
    }

    /** {@return the number of state tensors bound} */
    public int stateCount() {
        return states.size();
    }

    /**
     * Tokens each row has consumed before this forward.
     *
     * @return a copy, one position per row
     */
    public long[] positions() {
        return positions.clone();
    }

    /** {@return whether the rows have seen no token yet} */
    public boolean fresh() {
        return fresh;
    }

    /**
     * The rows' paged keys and values, or null for a model without softmax layers.
     *
     * @return the KV rows, or null
     */
    public PagedKvCache.Rows kv() {
        return kv;
    }

    /**
     * Checks that a model with {@code expected} state tensors got as many.
     *
     * @param model the model's name, for the error
     * @param expected the number of state tensors the model keeps
     * @throws IllegalArgumentException when the counts differ
     */
    public void checkStates(String model, int expected) {
        if (states.size() != expected) {
            throw new IllegalArgumentException(
                    model + ": the batch binds " + states.size() + " state tensors, the model keeps " + expected);
        }
    }
}
