package fulgur.models;

import fulgur.nn.Module;
import fulgur.tensor.Tensor;

/** A causal language model the trainer and the generator can drive, whatever its architecture. */
public interface CausalLM {

    /** The parameter tree (for optimizers and checkpoints). */
    Module module();

    int vocabSize();

    /** Token ids [B, T] → logits [B, T, vocab]. */
    Tensor forward(Tensor ids);

    /** Logits for new tokens, continuing from (and advancing) a decoding cache. */
    Tensor forward(Tensor ids, DecodeCache cache);

    /**
     * The logits of each row's last token [B, vocab], continuing from (and advancing) a decoding cache: what decoding
     * samples from. Models that can, project only the last position (a prompt's other positions need no logits).
     */
    default Tensor lastLogits(Tensor ids, DecodeCache cache) {
        Tensor logits = forward(ids, cache);
        return logits.select(1, logits.size(1) - 1).contiguous();
    }

    /** Mean next-token cross-entropy, targets −100 ignored. */
    Tensor loss(Tensor inputs, Tensor targets);

    /**
     * The mean loss of one slice of longer sequences (sequence parallelism): {@code inputs} and {@code targets} are
     * the tokens at positions {@code shard.positionOffset()} onwards, and the token mixers reach the rest of the
     * sequence through the shard's attention ops. Models that support sequence parallelism override this.
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
     */
    default void advanceStates(Tensor inputs, SequenceShard shard) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not carry states from one chunk of a sequence to the next");
    }

    /**
     * Whether {@link #loss(Tensor, Tensor, SequenceShard)} and {@link #advanceStates} honour a shard's
     * {@link StateCarry}: then a long sequence trains a chunk at a time, with the loss and gradients of the whole.
     */
    default boolean carriesStates() {
        return false;
    }

    /**
     * Activation checkpointing: the forward keeps only each layer's input, and the backward runs each layer's forward
     * again before its backward (same gradients, one more forward, memory of one layer's activations instead of all).
     */
    default void checkpointActivations(boolean on) {
        if (on) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " does not support activation checkpointing");
        }
    }

    DecodeCache newCache();

    /**
     * A cache over rows of a state pool, for batched decoding: each row continues from its state views and position in
     * {@code batch} (and its paged keys and values), which the forward advances in place. Every model of the zoo
     * supports it.
     */
    default DecodeCache newCache(BatchState batch) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not decode in batches");
    }

    /**
     * Whether a batched decoding step ({@link #newCache(BatchState)}, one token per row, {@link #lastLogits}) depends on
     * the host only through its token ids and the state rows it is bound to: no per-row positions turned into angles on
     * the host (RoPE, LRPE), no key/value block tables. Such a step does the same device work on the same memory every
     * time for one batch size, so a serving engine may record it once as a device graph and replay it.
     */
    default boolean decodeStepCapturable() {
        return false;
    }

    /** The model's config.json text (architecture-specific field names). */
    String configJson();
}
