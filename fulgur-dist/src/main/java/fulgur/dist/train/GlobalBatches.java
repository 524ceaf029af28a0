package fulgur.dist.train;

import fulgur.data.Batch;
import fulgur.train.DataSource;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The sequence of global batches every rank of a distributed run walks through (each rank then takes its rows and
 * columns). A process-per-rank job gives every process its own identically seeded {@link DataSource}
 * ({@link #own}); ranks that are threads of one JVM share one source through {@link Shared}.
 */
public interface GlobalBatches {

    /** {@return the next global batch} */
    Batch next();

    /**
     * The source's position after the batches this rank has taken (for checkpoints).
     *
     * @return the state
     */
    Map<String, Object> state();

    /**
     * Continues from a state {@link #state()} returned.
     *
     * @param state the state
     */
    void restore(Map<String, Object> state);

    /**
     * {@return the batches of {@code source}, this process's own}
     *
     * @param source an identically seeded source in every process
     */
    static GlobalBatches own(DataSource source) {
        return new GlobalBatches() {
            @Override
            public Batch next() {
                return source.next();
            }

            @Override
            public Map<String, Object> state() {
                return source.state();
            }

            @Override
            public void restore(Map<String, Object> state) {
                source.restore(state);
            }
        };
    }

    /**
     * One data source shared by {@code ranks} threads: batch i is drawn once, by whichever rank asks first, and kept
     * until every rank has taken it, together with the source's state after it.
     */
    final class Shared {
        private final DataSource source;
        private final int ranks;
        private final Map<Long, Batch> batches = new HashMap<>();
        private final Map<Long, Map<String, Object>> statesAfter = new HashMap<>();
        private final Map<Long, Integer> taken = new HashMap<>();
        private final long[] cursor;
        private long drawn;

        /**
         * A source shared by {@code ranks} threads.
         *
         * @param source the source
         * @param ranks the ranks that take every batch
         */
        public Shared(DataSource source, int ranks) {
            this.source = source;
            this.ranks = ranks;
            this.cursor = new long[ranks];
        }

        /**
         * Rank {@code rank}'s view.
         *
         * @param rank the rank
         * @return its view
         */
        public GlobalBatches forRank(int rank) {
            return new GlobalBatches() {
                @Override
                public Batch next() {
                    return take(rank);
                }

                @Override
                public Map<String, Object> state() {
                    return stateAfter(rank);
                }

                @Override
                public void restore(Map<String, Object> state) {
                    restoreShared(state);
                }
            };
        }

        private synchronized Batch take(int rank) {
            long i = cursor[rank]++;
            while (drawn <= i) {
                batches.put(drawn, source.next());
                statesAfter.put(drawn, source.state());
                drawn++;
            }
            Batch b = batches.get(i);
            int n = taken.merge(i, 1, Integer::sum);
            if (n == ranks) {
                batches.remove(i);
                taken.remove(i);
                statesAfter.remove(i - 1);
            }
            return b;
        }

        private synchronized Map<String, Object> stateAfter(int rank) {
            long i = cursor[rank] - 1;
            if (i < 0) {
                return source.state();
            }
            Map<String, Object> s = statesAfter.get(i);
            return s != null ? s : source.state();
        }

        private final List<Integer> restored = new ArrayList<>();

        /** Every rank restores the same state; the first call restores the source, the others only reset cursors. */
        private synchronized void restoreShared(Map<String, Object> state) {
            if (restored.isEmpty()) {
                source.restore(state);
                batches.clear();
                statesAfter.clear();
                taken.clear();
                java.util.Arrays.fill(cursor, 0);
                drawn = 0;
            }
            restored.add(1);
            if (restored.size() == ranks) {
                restored.clear();
            }
        }

        Map<Long, Batch> pending() {
            return new HashMap<>(batches);
        }
    }
}
