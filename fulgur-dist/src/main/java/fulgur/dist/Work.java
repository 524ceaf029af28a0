package fulgur.dist;

/** A pending communication. */
public interface Work {

    /**
     * Blocks until the operation is done and its data in place, or fails: {@link DistTimeoutException} after the
     * group's timeout, {@link RankFailedException} when another rank failed, {@link DistException} when the ranks
     * disagreed. Waiting again after success returns at once.
     */
    void await();

    /** Whether {@link #await()} would return at once. */
    boolean isCompleted();

    /** An already finished operation. */
    static Work completed() {
        return Done.INSTANCE;
    }

    /** Waits for all of them, in order. */
    static void awaitAll(Iterable<? extends Work> works) {
        for (Work w : works) {
            w.await();
        }
    }

    enum Done implements Work {
        INSTANCE;

        @Override
        public void await() {}

        @Override
        public boolean isCompleted() {
            return true;
        }
    }
}
