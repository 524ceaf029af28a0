package fulgur.train;

import fulgur.data.Batch;
import java.util.Map;

/** An endless stream of training batches whose position can be saved and restored exactly. */
public interface DataSource {
    /** The next batch. */
    Batch next();

    /** Everything needed to continue with the same batches (JSON-friendly values). */
    Map<String, Object> state();

    /** Continues from a position {@link #state()} returned (in this or an earlier run). */
    void restore(Map<String, Object> state);
}
