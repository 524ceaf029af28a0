package fulgur.train;

import fulgur.data.Batch;
import java.util.Map;

/** An endless stream of training batches whose position can be saved and restored exactly. */
public interface DataSource {
    /**
     * The next batch.
     *
     * @return the batch
     */
    Batch next();

    /**
     * Everything needed to continue with the same batches (JSON-friendly values).
     *
     * @return the position
     */
    Map<String, Object> state();

    /**
     * Continues from a position {@link #state()} returned (in this or an earlier run).
     *
     * @param state a map {@link #state()} returned
     */
    void restore(Map<String, Object> state);
}
