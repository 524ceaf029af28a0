package fulgur.models;

import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.ops.lightning.LightningAttentionOp;

/**
 * How a hybrid model's attention layer attends on this forward: through its slot of the {@link HybridCache} when
 * decoding (the whole sequence only), through the {@link SequenceShard}'s ops otherwise (from its carried states, for a
 * chunk of a longer sequence). The shared layers of {@code fulgur.layers} take the op; the models pick it here.
 */
public final class LayerAttention {
    private LayerAttention() {}

    /**
     * Where the tokens of this forward start in the whole sequence: one offset, or one per row of a decoding batch.
     *
     * @param cache the decoding cache, or null
     * @param shard the forward's shard
     * @return the first position of each row
     * @throws IllegalArgumentException when both a cache and a non-whole shard are given
     */
    public static long[] positions(HybridCache cache, SequenceShard shard) {
        check(cache, shard);
        return cache == null ? new long[] {shard.positionOffset()} : cache.positions();
    }

    /**
     * Softmax attention of layer {@code layer}: append to and attend over its KV cache, or the shard's op.
     *
     * @param cache the decoding cache, or null
     * @param layer the layer index
     * @param shard the forward's shard
     * @return the attention op
     * @throws IllegalArgumentException when both a cache and a non-whole shard are given
     */
    public static SoftmaxAttentionOp softmax(HybridCache cache, int layer, SequenceShard shard) {
        check(cache, shard);
        if (cache == null) {
            return shard.softmax(layer);
        }
        var kv = cache.kv(layer);
        return (q, k, v, scale, causal) -> kv.attend(q, k, v, scale);
    }

    /**
     * Linear attention of layer {@code layer}: continue and advance its recurrent state, or the shard's op.
     *
     * @param cache the decoding cache, or null
     * @param layer the layer index
     * @param shard the forward's shard
     * @return the attention op
     * @throws IllegalArgumentException when both a cache and a non-whole shard are given
     */
    public static LightningAttentionOp linear(HybridCache cache, int layer, SequenceShard shard) {
        check(cache, shard);
        return cache == null ? shard.lightning(layer) : cache.linear(layer)::attend;
    }

    private static void check(HybridCache cache, SequenceShard shard) {
        if (cache != null && !shard.isWhole()) {
            throw new IllegalArgumentException(
                    "attention: decoding with a cache needs the whole sequence, not a shard");
        }
    }
}
