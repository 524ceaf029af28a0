package fulgur.dist.sp;

import fulgur.dist.ProcessGroup;
import fulgur.models.SequenceShard;
import fulgur.ops.Losses;
import fulgur.ops.lightning.LightningChunked;
import fulgur.tensor.Tensor;

/**
 * Entry points for sequence parallelism: a model call on rank r of a sequence-parallel group sees only its slice
 * of each sequence; {@link #shard} gives the {@link SequenceShard} that makes its layers behave as if they saw the
 * whole sequence (position offset for positional encodings, LASP / LASP-2 for lightning layers, LASP-2H for softmax
 * layers). The slice's mean loss is then weighted by its share of the counted tokens ({@link #weightedLoss}) so
 * that the sum over the group's ranks of their gradients is the gradient of the whole sequence's mean loss.
 */
public final class SequenceParallel {
    private SequenceParallel() {}

    /** This rank's shard, lightning layers with {@code algorithm} (block size of the local kernel: the default). */
    public static SequenceShard shard(ProcessGroup group, SpAlgorithm algorithm, SequenceLayout layout) {
        return shard(group, algorithm, layout, LightningChunked.DEFAULT_BLOCK);
    }

    public static SequenceShard shard(ProcessGroup group, SpAlgorithm algorithm, SequenceLayout layout, int blockSize) {
        return new SequenceShard(
                layout.offset(group.rank()),
                HostStaged.lightning(new SequenceParallelLightning(group, algorithm, layout, blockSize)),
                HostStaged.softmax(new Lasp2hAttention(group, layout)));
    }

    /** Columns {@code [offset(rank), offset(rank) + length(rank))} of a {@code [B, T]} (or {@code [B, T, ...]}) tensor, contiguous. */
    public static Tensor slice(Tensor x, SequenceLayout layout, int rank) {
        if (x.ndim() < 2 || x.size(1) != layout.total()) {
            throw new IllegalArgumentException("sequence parallelism: expected [B, T, ...] with T = " + layout.total()
                    + " for " + layout + ", got " + x.describe());
        }
        return x.narrow(1, (int) layout.offset(rank), layout.length(rank)).contiguous();
    }

    /** Targets that count in the loss (not {@link Losses#IGNORE_INDEX}). */
    public static long countTargets(int[] targets) {
        long n = 0;
        for (int t : targets) {
            if (t != Losses.IGNORE_INDEX) {
                n++;
            }
        }
        return n;
    }

    /**
     * A slice's mean loss (over its {@code localCount} counted targets) scaled to its share of the whole mean over
     * {@code totalCount} targets: summing these over the ranks gives the whole mean, and so do their gradients.
     */
    public static Tensor weightedLoss(Tensor meanLoss, long localCount, long totalCount) {
        if (localCount < 0 || totalCount < localCount) {
            throw new IllegalArgumentException(
                    "weightedLoss: local count " + localCount + " and total " + totalCount + " are inconsistent");
        }
        double w = totalCount == 0 ? 0 : (double) localCount / totalCount;
        return w == 1 ? meanLoss : meanLoss.mul(w);
    }
}
