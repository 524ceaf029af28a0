package fulgur.models;

import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.ops.lightning.LightningAttentionOp;

/**
 * Where the tokens of a model call sit in a longer sequence, and how the token mixers reach the rest of it. With
 * sequence parallelism each rank holds a contiguous slice starting at {@code positionOffset}; positional encodings
 * use whole-sequence positions and the attention ops exchange states or keys with the other ranks.
 * {@link #WHOLE} is the ordinary case: the whole sequence, on one device.
 */
public record SequenceShard(long positionOffset, LightningAttentionOp lightning, SoftmaxAttentionOp softmax) {

    public static final SequenceShard WHOLE = new SequenceShard(0, LightningAttentionOp.LOCAL, SoftmaxAttentionOp.LOCAL);

    public SequenceShard {
        if (positionOffset < 0) {
            throw new IllegalArgumentException("SequenceShard: position offset must be >= 0, got " + positionOffset);
        }
        if (lightning == null || softmax == null) {
            throw new IllegalArgumentException("SequenceShard: the attention ops must not be null");
        }
    }

    /** Whether this is the whole sequence on one device (no exchange with other ranks). */
    public boolean isWhole() {
        return positionOffset == 0 && lightning == LightningAttentionOp.LOCAL && softmax == SoftmaxAttentionOp.LOCAL;
    }
}
