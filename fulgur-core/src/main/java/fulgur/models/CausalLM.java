package fulgur.models;

import fulgur.nn.Module;
import fulgur.tensor.Tensor;

/** A causal language model the trainer and the generator can drive, whatever its architecture. */
public interface CausalLM {

    /**
     * The parameter tree (for optimizers and checkpoints).
     *
     * @return the root module
     */
    Module module();

    /** {@return the number of token ids, the size of the logits' last dimension} */
    int vocabSize();

    /**
     * Token ids [B, T] → logits [B, T, vocab].
     *
     * @param ids token ids [B, T], i32
     * @return logits [B, T, vocab]
     * @throws IllegalArgumentException when ids is not a 2-D integer tensor
     * @throws IndexOutOfBoundsException when an id is outside the vocabulary (CPU)
     */
    Tensor forward(Tensor ids);

    /**
     * Logits for new tokens, continuing from (and advancing) a decoding cache.
     *
     * @param ids token ids [B, T] that follow what the cache has seen
     * @param cache a cache of this model ({@link #newCache()})
     * @return logits [B, T, vocab]
     * @throws IllegalArgumentException when the cache belongs to another model
     */
    Tensor forward(Tensor ids, DecodeCache cache);

    /**
     * The logits of each row's last token [B, vocab], continuing from (and advancing) a decoding cache: what decoding
     * samples from. Models that can, project only the last position (a prompt's other positions need no logits).
     *
     * @param ids token ids [B, T] that follow what the cache has seen
     * @param cache a cache of this model
     * @return logits [B, vocab]
     */
    default Tensor lastLogits(Tensor ids, DecodeCache cache) {
        Tensor logits = forward(ids, cache);
        return logits.select(1, logits.size(1) - 1).contiguous();
    }

    /**
     * Mean next-token cross-entropy, targets −100 ignored.
     *
     * @param inputs token ids [B, T]
     * @param targets the next tokens [B, T], −100 where no loss is counted
     * @return the mean loss, a scalar that requires gradients
     */
    Tensor loss(Tensor inputs, Tensor targets);

    /**
     * The mean loss of one slice of longer sequences (sequence parallelism): {@code inputs} and {@code targets} are
     * the tokens at positions {@code shard.positionOffset()} onwards, and the token mixers reach the rest of the
     * sequence through the shard's attention ops. Models that support sequence parallelism override this.
     *
     * @param inputs token ids [B, T] of the slice
     * @param targets their next tokens [B, T], −100 where no loss is counted
     * @param shard where the slice sits and how to reach the rest
     * @return the slice's loss, weighted as the shard says
     * @throws UnsupportedOperationException when the model has no sequence parallelism and the shard is not the whole
     *     sequence
     */
    default Tensor loss(Tensor inputs, Tensor targets, SequenceShard shard) {
        if (shard.isWhole()) {
            return loss(inputs, targets);
        }
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not support sequence parallelism");
    }

    /**
     * Runs the layers over the tokens of one chunk of a longer sequence, leaving the layers' final states in
     * {@code shard.carry()}: no logits, no loss. The first, state-only pass of a sequence trained in chunks
     * ({@link #carriesStates()}).
     *
     * @param inputs token ids [B, T] of the chunk
     * @param shard where the chunk sits, with the carry to leave the states in
     * @throws UnsupportedOperationException when the model does not carry states
     */
    default void advanceStates(Tensor inputs, SequenceShard shard) {
        throw new UnsupportedOperationException(
                getClass().getSimpleName() + " does not carry states from one chunk of a sequence to the next");
    }

    /**
     * Whether {@link #loss(Tensor, Tensor, SequenceShard)} and {@link #advanceStates} honour a shard's
     * {@link StateCarry}: then a long sequence trains a chunk at a time, with the loss and gradients of the whole.
     *
     * @return true when chunked training is supported
     */
    default boolean carriesStates() {
        return false;
    }

    /**
     * Activation checkpointing: the forward keeps only each layer's input, and the backward runs each layer's forward
     * again before its backward (same gradients, one more forward, memory of one layer's activations instead of all).
     *
     * @param on whether to checkpoint
     * @throws UnsupportedOperationException when turning it on for a model that does not support it
     */
    default void checkpointActivations(boolean on) {
        if (on) {
            throw new UnsupportedOperationException(
                    getClass().getSimpleName() + " does not support activation checkpointing");
        }
    }

    /**
     * A fresh cache for decoding one sequence (batch 1) from its first token; close it to free its state.
     *
     * @return the cache
     */
    DecodeCache newCache();

    /**
     * A cache over rows of a state pool, for batched decoding: each row continues from its state views and position in
     * {@code batch} (and its paged keys and values), which the forward advances in place. Every model of the zoo
     * supports it.
     *
     * @param batch the rows to continue
     * @return the cache, to close after the forward
     * @throws UnsupportedOperationException when the model does not decode in batches
     */
    default DecodeCache newCache(BatchState batch) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not decode in batches");
    }

    /**
     * Whether a batched decoding step ({@link #newCache(BatchState)}, one token per row, {@link #lastLogits}) depends on
     * the host only through its token ids and the state rows it is bound to: no per-row positions turned into angles on
     * the host (RoPE, LRPE), no key/value block tables. Such a step does the same device work on the same memory every
     * time for one batch size, so a serving engine may record it once as a device graph and replay it.
     *
     * @return true when the step can be captured and replayed
     */
    default boolean decodeStepCapturable() {
        return false;
    }

    /**
     * The model's config.json text (architecture-specific field names).
     *
     * @return the config.json text
     */
    String configJson();
}
