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
 */
public record SequenceShard(long positionOffset, LightningAttentionOp lightning, SoftmaxAttentionOp softmax, StateCarry carry) {

    public static final SequenceShard WHOLE = new SequenceShard(0, LightningAttentionOp.LOCAL, SoftmaxAttentionOp.LOCAL, null);

    public SequenceShard {
        if (positionOffset < 0) {
            throw new IllegalArgumentException("SequenceShard: position offset must be >= 0, got " + positionOffset);
        }
        if (lightning == null || softmax == null) {
            throw new IllegalArgumentException("SequenceShard: the attention ops must not be null");
        }
    }

    /** A slice of a sequence split across ranks (no carried states). */
    public SequenceShard(long positionOffset, LightningAttentionOp lightning, SoftmaxAttentionOp softmax) {
        this(positionOffset, lightning, softmax, null);
    }

    /** A chunk at {@code positionOffset} of a sequence on one device, continuing from (and leaving) the states in {@code carry}. */
    public static SequenceShard chunk(long positionOffset, StateCarry carry) {
        if (carry == null) {
            throw new IllegalArgumentException("SequenceShard.chunk: a chunk needs a state carry");
        }
        return new SequenceShard(positionOffset, LightningAttentionOp.LOCAL, SoftmaxAttentionOp.LOCAL, carry);
    }

    /** Whether this is the whole sequence on one device (no exchange with other ranks, nothing carried in or out). */
    public boolean isWhole() {
        return positionOffset == 0 && isLocal() && carry == null;
    }

    /** Whether the token mixers run on this device alone (no exchange with other ranks; the states may be carried). */
    public boolean isLocal() {
        return lightning == LightningAttentionOp.LOCAL && softmax == SoftmaxAttentionOp.LOCAL;
    }

    /** The lightning attention of layer {@code layer}: the shard's op, continuing from the carried state when there is a carry. */
    public LightningAttentionOp lightning(int layer) {
        return carry == null ? lightning : carry.lightning(layer, lightning);
    }

    /** The softmax attention of layer {@code layer}: the shard's op, over the carried keys and values when there is a carry. */
    public SoftmaxAttentionOp softmax(int layer) {
        return carry == null ? softmax : carry.softmax(layer, softmax);
    }
}
