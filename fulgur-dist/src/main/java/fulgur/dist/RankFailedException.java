package fulgur.dist;

/** Another rank of the job failed, so the operation this rank waits for can never finish. */
public class RankFailedException extends DistException {
    private final int failedRank;

    public RankFailedException(int failedRank, String message, Throwable cause) {
        super(message, cause);
        this.failedRank = failedRank;
    }

    /** The (world) rank that failed first. */
    public int failedRank() {
        return failedRank;
    }
}
