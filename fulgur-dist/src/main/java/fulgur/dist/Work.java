package fulgur.dist;

/** A pending communication. */
public interface Work {

    /**
     * Blocks until the operation is done and its data in place, or fails: {@link DistTimeoutException} after the
     * group's timeout, {@link RankFailedException} when another rank failed, {@link DistException} when the ranks
     * disagreed. Waiting again after success returns at once.
     */
    void await();

    /**
     * Whether {@link #await()} would return at once.
     *
     * @return true once done
     */
    boolean isCompleted();

    /**
     * An already finished operation.
     *
     * @return the work
     */
    static Work completed() {
        return Done.INSTANCE;
    }

    /**
     * Waits for all of them, in order.
     *
     * @param works the operations
     */
    static void awaitAll(Iterable<? extends Work> works) {
        for (Work w : works) {
            w.await();
        }
    }

    /** The work that is already done. */
    enum Done implements Work {
        /** The one instance. */
        INSTANCE;

        @Override
        public void await() {}

        @Override
        public boolean isCompleted() {
            return true;
        }
    }
}
