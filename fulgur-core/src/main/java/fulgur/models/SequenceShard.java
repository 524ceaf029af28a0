package fulgur.models;

import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.ops.lightning.LightningAttentionOp;

/**
 * Where the tokens of a model call sit in a longer sequence, and how the token mixers reach the rest of it. With
 * sequence parallelism each rank holds a contiguous slice starting at {@code positionOffset}; positional encodings
 * use whole-sequence positions and the attention ops exchange states or keys with the other ranks. A chunk of a long
 * sequence trained a chunk at a time reaches the chunks before it through its {@link StateCarry} ({@code carry}: the
 * layers' states at the chunk's start, which the call leaves at its end). {@link #WHOLE} is the ordinary case: the whole
 * sequence, on one device.
 *
 * @param positionOffset the whole-sequence position of the first token, ≥ 0
 * @param lightning the lightning attention op (LOCAL on one device)
 * @param softmax the softmax attention op (LOCAL on one device)
 * @param carry the states carried from and to other chunks, or null
 */
public record SequenceShard(
        long positionOffset, LightningAttentionOp lightning, SoftmaxAttentionOp softmax, StateCarry carry) {

    /** The whole sequence on one device: offset 0, local attention, nothing carried. */
    public static final SequenceShard WHOLE =
            new SequenceShard(0, LightningAttentionOp.LOCAL, SoftmaxAttentionOp.LOCAL, null);

    /**
     * Checks the offset and ops.
     *
     * @throws IllegalArgumentException for a negative offset or a null op
     */
    public SequenceShard {
        if (positionOffset < 0) {
            throw new IllegalArgumentException("SequenceShard: position offset must be >= 0, got " + positionOffset);
        }
        if (lightning == null || softmax == null) {
            throw new IllegalArgumentException("SequenceShard: the attention ops must not be null");
        }
    }

    /**
     * A slice of a sequence split across ranks (no carried states).
     *
     * @param positionOffset the whole-sequence position of the slice's first token
     * @param lightning the lightning attention op across ranks
     * @param softmax the softmax attention op across ranks
     */
    public SequenceShard(long positionOffset, LightningAttentionOp lightning, SoftmaxAttentionOp softmax) {
        this(positionOffset, lightning, softmax, null);
    }

    /**
     * A chunk at {@code positionOffset} of a sequence on one device, continuing from (and leaving) the states in {@code
     * carry}.
     *
     * @param positionOffset the whole-sequence position of the chunk's first token
     * @param carry the states to continue from and leave
     * @return the shard
     * @throws IllegalArgumentException when {@code carry} is null
     */
    public static SequenceShard chunk(long positionOffset, StateCarry carry) {
        if (carry == null) {
            throw new IllegalArgumentException("SequenceShard.chunk: a chunk needs a state carry");
        }
        return new SequenceShard(positionOffset, LightningAttentionOp.LOCAL, SoftmaxAttentionOp.LOCAL, carry);
    }

    /**
     * Whether this is the whole sequence on one device (no exchange with other ranks, nothing carried in or out).
     *
     * @return true for a plain whole-sequence call
     */
    public boolean isWhole() {
        return positionOffset == 0 && isLocal() && carry == null;
    }

    /**
     * Whether the token mixers run on this device alone (no exchange with other ranks; the states may be carried).
     *
     * @return true when no rank exchange happens
     */
    public boolean isLocal() {
        return lightning == LightningAttentionOp.LOCAL && softmax == SoftmaxAttentionOp.LOCAL;
    }

    /**
     * The lightning attention of layer {@code layer}: the shard's op, continuing from the carried state when there is a
     * carry.
     *
     * @param layer the layer index
     * @return the op
     */
    public LightningAttentionOp lightning(int layer) {
        return carry == null ? lightning : carry.lightning(layer, lightning);
    }

    /**
     * The softmax attention of layer {@code layer}: the shard's op, over the carried keys and values when there is a
     * carry.
     *
     * @param layer the layer index
     * @return the op
     */
    public SoftmaxAttentionOp softmax(int layer) {
        return carry == null ? softmax : carry.softmax(layer, softmax);
    }
}
