package fulgur.dist;

import fulgur.tensor.Tensor;
import java.time.Duration;

/**
 * A group of ranks that communicate: collectives (all-reduce, all-gather, reduce-scatter, broadcast, barrier) and
 * point-to-point messages (send/recv). Every operation returns at once with a {@link Work} handle; the data is in
 * place after {@link Work#await()}, so communication overlaps whatever the caller computes in between. Buffers must
 * stay untouched (inputs) and unread (outputs) until then.
 *
 * <p>Rules, as in NCCL and torch.distributed: every rank of the group calls the same collectives in the same order
 * with matching dtypes and sizes; tensors are contiguous; messages between two ranks arrive in the order sent.
 * Breaking a rule gives a {@link DistException} that names the operation, the group and the ranks involved; a rank
 * that does not take part in time gives a {@link DistTimeoutException} after {@link #timeout()}; a rank that failed
 * gives a {@link RankFailedException} on the others, never a hang.
 *
 * <p>All-gather lays the ranks' inputs out rank-major (rank r's input at elements {@code [r·n, (r+1)·n)} of the
 * output); reduce-scatter is its adjoint (rank r receives the reduction of elements {@code [r·m, (r+1)·m)}).
 * Reductions are deterministic: the same inputs always give the same bits. All-to-all lays out both what a rank sends
 * and what it receives rank-major, with sizes per rank that may differ (and be zero).
 */
public interface ProcessGroup extends AutoCloseable {

    /**
     * This process's (or thread's) rank in the group, 0 ≤ rank &lt; size.
     *
     * @return the rank
     */
    int rank();

    /** {@return the number of ranks} */
    int size();

    /**
     * A readable name, e.g. "world" or "world/sp1[2,3]".
     *
     * @return the name
     */
    String name();

    /**
     * "local" or "nccl".
     *
     * @return the backend's name
     */
    String backend();

    /**
     * How long a wait may last before it fails.
     *
     * @return the timeout
     */
    Duration timeout();

    /**
     * Counters of the calls and elements this rank moved through this group.
     *
     * @return the counters
     */
    CommStats stats();

    /**
     * In place: every rank's tensor becomes the reduction over all ranks.
     *
     * @param tensor the tensor, the same shape and dtype on every rank
     * @param op the reduction
     * @return the pending operation
     * @throws DistException when the tensor cannot be reduced
     */
    Work allReduce(Tensor tensor, ReduceOp op);

    /**
     * output (size·numel(input) elements) receives every rank's input, rank-major.
     *
     * @param input this rank's part
     * @param output every rank's parts
     * @return the pending operation
     * @throws DistException when the sizes or dtypes do not fit
     */
    Work allGather(Tensor input, Tensor output);

    /**
     * input (size·numel(output) elements): rank r's output becomes the reduction of every rank's slice r.
     *
     * @param input every rank's slices
     * @param output this rank's reduced slice
     * @param op the reduction
     * @return the pending operation
     * @throws DistException when the sizes or dtypes do not fit
     */
    Work reduceScatter(Tensor input, Tensor output, ReduceOp op);

    /**
     * Personalised exchange with sizes per rank: this rank sends {@code sendCounts[d]} consecutive elements of
     * {@code input} to rank d (rank 0's part first) and receives {@code recvCounts[s]} elements from rank s into
     * {@code output}, rank-major. What rank s sends to rank d must be what rank d expects from rank s; the counts add up
     * to the tensors' sizes.
     *
     * @param input the elements to send
     * @param sendCounts elements to each rank
     * @param output the elements received
     * @param recvCounts elements from each rank
     * @return the pending operation
     * @throws DistException when the counts do not fit the group or the tensors
     */
    Work allToAll(Tensor input, long[] sendCounts, Tensor output, long[] recvCounts);

    /**
     * Every rank's tensor becomes root's.
     *
     * @param tensor the tensor, the same shape and dtype on every rank
     * @param root the rank whose tensor is sent
     * @return the pending operation
     * @throws DistException when {@code root} is not a member
     */
    Work broadcast(Tensor tensor, int root);

    /**
     * Sends the tensor to rank {@code dst}; the tensor may be reused after the returned work completes.
     *
     * @param tensor the message
     * @param dst the destination rank
     * @return the pending operation
     * @throws DistException when {@code dst} is not a member
     */
    Work send(Tensor tensor, int dst);

    /**
     * Receives the next message from rank {@code src} into the tensor (same dtype and element count).
     *
     * @param tensor where the message goes
     * @param src the source rank
     * @return the pending operation
     * @throws DistException when {@code src} is not a member
     */
    Work recv(Tensor tensor, int src);

    /**
     * Waits until every rank reached the barrier.
     *
     * @return the pending operation
     */
    Work barrier();

    /**
     * Collective over this group: ranks passing the same {@code color} (≥ 0) form a new group, ordered by
     * {@code key}, then by their rank here. Returns this rank's new group.
     *
     * @param color the new group's color, ≥ 0
     * @param key the order within it
     * @return the new group
     */
    ProcessGroup split(int color, int key);

    /** Releases the group's resources (not collective). */
    @Override
    void close();

    /**
     * Checks the per-rank counts of an all-to-all against the group size and the tensors; returns the element offsets.
     *
     * @param input the elements to send
     * @param sendCounts elements to each rank
     * @param output the elements received
     * @param recvCounts elements from each rank
     * @return the send offsets and the receive offsets, each of size + 1
     * @throws DistException when the counts do not fit the group or the tensors
     */
    default long[][] checkAllToAll(Tensor input, long[] sendCounts, Tensor output, long[] recvCounts) {
        String op = "allToAll on group '" + name() + "' (rank " + rank() + " of " + size() + ")";
        if (sendCounts.length != size() || recvCounts.length != size()) {
            throw new DistException(op + ": expected " + size() + " send and receive counts, got " + sendCounts.length
                    + " and " + recvCounts.length);
        }
        if (input.dtype() != output.dtype()) {
            throw new DistException(
                    op + ": input " + input.describe() + " and output " + output.describe() + " differ in dtype");
        }
        long[][] offsets = new long[2][size() + 1];
        for (int r = 0; r < size(); r++) {
            if (sendCounts[r] < 0 || recvCounts[r] < 0) {
                throw new DistException(op + ": counts must be >= 0, got " + sendCounts[r] + " to send and "
                        + recvCounts[r] + " to receive for rank " + r);
            }
            offsets[0][r + 1] = offsets[0][r] + sendCounts[r];
            offsets[1][r + 1] = offsets[1][r] + recvCounts[r];
        }
        if (offsets[0][size()] != input.numel() || offsets[1][size()] != output.numel()) {
            throw new DistException(op + ": the send counts add up to " + offsets[0][size()]
                    + " and the receive counts to " + offsets[1][size()] + ", but the input is " + input.describe()
                    + " and the output " + output.describe());
        }
        return offsets;
    }

    /**
     * Checks that {@code rank} names a member; {@code what} says whose rank it is ("destination", "root").
     *
     * @param op the operation, for errors
     * @param what whose rank it is
     * @param r the rank
     * @return {@code r}
     * @throws DistException when {@code r} is not a member
     */
    default int checkRank(String op, String what, int r) {
        if (r < 0 || r >= size()) {
            throw new DistException(
                    op + " on group '" + name() + "': " + what + " rank " + r + " is outside [0, " + size() + ")");
        }
        return r;
    }
}
