package fulgur.train;

import fulgur.data.Batch;
import fulgur.data.Mqar;
import fulgur.data.PackedSequenceSampler;
import fulgur.data.TokenStream;
import fulgur.io.Json;
import java.util.LinkedHashMap;
import java.util.Map;

/** The training data sources: MQAR generated on the fly, and packed windows over a token stream. */
public final class DataSources {
    private DataSources() {}

    /**
     * MQAR batches: batch n is a pure function of (seed, n), so the position is just n.
     *
     * @param task the MQAR task
     * @param seed the seed of the batches
     * @param batchSize sequences per batch
     * @return the source
     */
    public static DataSource mqar(Mqar task, long seed, int batchSize) {
        return new DataSource() {
            long step;

            @Override
            public Batch next() {
                return task.batch(seed, step++, batchSize);
            }

            @Override
            public Map<String, Object> state() {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("kind", "mqar");
                m.put("seed", seed);
                m.put("step", step);
                Mqar.Config c = task.config();
                m.put(
                        "config",
                        Map.of(
                                "vocab_size",
                                c.vocabSize(),
                                "seq_len",
                                c.seqLen(),
                                "num_kv_pairs",
                                c.numKvPairs(),
                                "num_queries",
                                c.numQueries()));
                return m;
            }

            @Override
            public void restore(Map<String, Object> state) {
                if (!"mqar".equals(state.get("kind")) || ((Number) state.get("seed")).longValue() != seed) {
                    throw new IllegalArgumentException(
                            "checkpoint data state " + state + " does not belong to an MQAR run with seed " + seed);
                }
                step = ((Number) state.get("step")).longValue();
            }
        };
    }

    /**
     * Random windows of seqLen+1 tokens over a token stream (deterministic from the seed, resumable).
     *
     * @param tokens the token stream
     * @param batchSize windows per batch
     * @param seqLen tokens per window (plus one for the targets)
     * @param seed the seed of the window positions
     * @return the source
     */
    public static DataSource packed(TokenStream tokens, int batchSize, int seqLen, long seed) {
        return new DataSource() {
            PackedSequenceSampler sampler = PackedSequenceSampler.random(tokens, batchSize, seqLen, seed);

            @Override
            public Batch next() {
                return sampler.next();
            }

            @Override
            public Map<String, Object> state() {
                @SuppressWarnings("unchecked")
                Map<String, Object> m = Json.mapper().convertValue(sampler.state(), LinkedHashMap.class);
                m.put("kind", "packed");
                return m;
            }

            @Override
            public void restore(Map<String, Object> state) {
                if (!"packed".equals(state.get("kind"))) {
                    throw new IllegalArgumentException(
                            "checkpoint data state " + state + " does not belong to a text run");
                }
                Map<String, Object> copy = new LinkedHashMap<>(state);
                copy.remove("kind");
                sampler = PackedSequenceSampler.restore(
                        tokens, Json.mapper().convertValue(copy, PackedSequenceSampler.State.class));
            }
        };
    }
}
