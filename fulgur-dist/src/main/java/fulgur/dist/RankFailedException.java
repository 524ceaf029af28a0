package fulgur.dist;

/** Another rank of the job failed, so the operation this rank waits for can never finish. */
public class RankFailedException extends DistException {
    /** The world rank that failed first. */
    private final int failedRank;

    /**
     * A failure caused by another rank.
     *
     * @param failedRank the world rank that failed first
     * @param message what failed, for the user
     * @param cause the failure
     */
    public RankFailedException(int failedRank, String message, Throwable cause) {
        super(message, cause);
        this.failedRank = failedRank;
    }

    /**
     * The (world) rank that failed first.
     *
     * @return the rank
     */
    public int failedRank() {
        return failedRank;
    }
}
