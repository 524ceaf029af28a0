package fulgur.dist;

/**
 * The data-parallel × sequence-parallel grid of LASP over a world of dp·sp ranks: sequence-parallel groups are
 * blocks of {@code sp} consecutive ranks (they exchange states every layer, so they should share a node), data-parallel
 * groups take every {@code sp}-th rank. World rank {@code r} is sequence rank {@code r % sp} of data replica
 * {@code r / sp}.
 */
public record ParallelGrid(ProcessGroup world, ProcessGroup dataParallel, ProcessGroup sequenceParallel) {

    /** Collective over {@code world}: splits it into the grid. */
    public static ParallelGrid of(ProcessGroup world, int dp, int sp) {
        if (dp < 1 || sp < 1) {
            throw new DistException("parallel grid: data-parallel and sequence-parallel sizes must be >= 1, got dp " + dp + ", sp " + sp);
        }
        if ((long) dp * sp != world.size()) {
            throw new DistException("parallel grid: dp " + dp + " × sp " + sp + " = " + (long) dp * sp + " ranks, but the world has " + world.size()
                    + " (start dp·sp processes, or change --dp/--sp)");
        }
        int r = world.rank();
        ProcessGroup spGroup = world.split(r / sp, r);
        ProcessGroup dpGroup = world.split(r % sp, r);
        return new ParallelGrid(world, dpGroup, spGroup);
    }

    public int dpRank() {
        return dataParallel.rank();
    }

    public int spRank() {
        return sequenceParallel.rank();
    }

    public int dp() {
        return dataParallel.size();
    }

    public int sp() {
        return sequenceParallel.size();
    }
}
