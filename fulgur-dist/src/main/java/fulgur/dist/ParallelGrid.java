package fulgur.dist;

/**
 * The data-parallel × sequence-parallel grid of LASP over a world of dp·sp ranks: sequence-parallel groups are
 * blocks of {@code sp} consecutive ranks (they exchange states every layer, so they should share a node), data-parallel
 * groups take every {@code sp}-th rank. World rank {@code r} is sequence rank {@code r % sp} of data replica
 * {@code r / sp}.
 *
 * @param world every rank
 * @param dataParallel this rank's data-parallel group
 * @param sequenceParallel this rank's sequence-parallel group
 */
public record ParallelGrid(ProcessGroup world, ProcessGroup dataParallel, ProcessGroup sequenceParallel) {

    /**
     * Collective over {@code world}: splits it into the grid.
     *
     * @param world the world group
     * @param dp the data-parallel size
     * @param sp the sequence-parallel size
     * @return this rank's grid
     * @throws DistException when a size is below 1 or dp·sp differs from the world's size
     */
    public static ParallelGrid of(ProcessGroup world, int dp, int sp) {
        if (dp < 1 || sp < 1) {
            throw new DistException("parallel grid: data-parallel and sequence-parallel sizes must be >= 1, got dp "
                    + dp + ", sp " + sp);
        }
        if ((long) dp * sp != world.size()) {
            throw new DistException("parallel grid: dp " + dp + " × sp " + sp + " = " + (long) dp * sp
                    + " ranks, but the world has " + world.size() + " (start dp·sp processes, or change --dp/--sp)");
        }
        int r = world.rank();
        ProcessGroup spGroup = world.split(r / sp, r);
        ProcessGroup dpGroup = world.split(r % sp, r);
        return new ParallelGrid(world, dpGroup, spGroup);
    }

    /** {@return this rank's index among the data replicas} */
    public int dpRank() {
        return dataParallel.rank();
    }

    /** {@return this rank's index in its sequence} */
    public int spRank() {
        return sequenceParallel.rank();
    }

    /** {@return the number of data replicas} */
    public int dp() {
        return dataParallel.size();
    }

    /** {@return the number of sequence slices} */
    public int sp() {
        return sequenceParallel.size();
    }
}
