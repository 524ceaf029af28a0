package fulgur.dist.ep;

/**
 * The share of the global batch's loss that this rank's loss carries (its counted targets over the batch's), set by
 * the trainer before each micro-batch's forward, so that the load-balancing loss can be weighted to add up exactly
 * over the ranks. Unset, a rank's share is taken to be its share of the tokens.
 */
public final class LossShare {
    private double share = Double.NaN;

    public void set(double share) {
        if (!(share >= 0 && share <= 1)) {
            throw new IllegalArgumentException("loss share must be in [0, 1], got " + share);
        }
        this.share = share;
    }

    /** The share, or NaN when unset. */
    public double get() {
        return share;
    }
}
