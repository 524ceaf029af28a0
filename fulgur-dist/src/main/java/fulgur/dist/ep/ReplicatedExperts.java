package fulgur.dist.ep;

import fulgur.dist.ProcessGroup;
import fulgur.layers.MoeFeedForward;
import fulgur.ops.moe.Moe;
import fulgur.tensor.Tensor;

/** Every expert on every rank (data or sequence parallelism without expert parallelism); the load-balancing loss over the whole batch. */
public final class ReplicatedExperts implements MoeFeedForward.Placement {
    private final ProcessGroup tokenGroup;
    private final LossShare share;

    /** {@code tokenGroup}: the ranks that hold the batch's tokens (the whole world of the run). */
    public ReplicatedExperts(ProcessGroup tokenGroup, LossShare share) {
        this.tokenGroup = tokenGroup;
        this.share = share;
    }

    @Override
    public Tensor experts(MoeFeedForward layer, Tensor x, Moe.Dispatch dispatch, Tensor weights) {
        return layer.localExperts(x, dispatch, weights);
    }

    @Override
    public double[] loadFractions(MoeFeedForward layer, int[] counts, int tokens) {
        return BatchLoadBalance.fractions(layer, tokenGroup, share, counts, tokens);
    }
}
