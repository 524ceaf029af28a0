package fulgur.dist.ep;

import fulgur.dist.ProcessGroup;
import fulgur.layers.MoeExpert;
import fulgur.layers.MoeFeedForward;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Indexing;
import fulgur.ops.Views;
import fulgur.ops.moe.Moe;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.function.Function;

/**
 * One MoE layer's experts split over the P ranks of an expert-parallel group: rank q holds experts
 * {@code [q·E/P, (q+1)·E/P)}. A forward, drop-less like the single-rank layer:
 * <ol>
 *   <li>the routed (token, slot) pairs are grouped by expert ({@link Moe#dispatch}), which groups them by the rank
 *       holding the expert; the ranks all-gather their per-expert counts, so everyone knows every transfer's size;</li>
 *   <li>an all-to-all of variable sizes sends each rank the rows of its experts (from rank s: its rows of the first
 *       local expert, then the second, ...); they are regrouped expert by expert and each local expert runs on
 *       exactly its rows (three grouped linear maps, as the single-rank layer);</li>
 *   <li>the outputs go back in the order they came, by the reverse all-to-all, and each token sums its k slots'
 *       outputs weighted by its gate, as the single-rank layer does.</li>
 * </ol>
 * Both all-to-alls are autograd ops whose backward is the reverse exchange, so the gradients of the rows return to
 * the tokens' ranks and the experts' weight gradients stay with their owners. A rank that receives no rows still
 * takes part in every exchange, forward and backward. The load-balancing loss counts the whole batch's tokens
 * ({@link BatchLoadBalance}). Every forward is collective over the group, evaluation too: the ranks evaluate together.
 */
public final class ShardedExperts implements MoeFeedForward.Placement {
    private final ProcessGroup group;
    private final ProcessGroup tokenGroup;
    private final LossShare share;
    private final int first;
    private final int local;

    /**
     * The placement of a layer of {@code experts} experts over {@code group} (which must divide them), with the
     * batch's tokens held by {@code tokenGroup}.
     */
    public ShardedExperts(ProcessGroup group, ProcessGroup tokenGroup, LossShare share, int experts) {
        if (experts % group.size() != 0) {
            throw new IllegalArgumentException("expert parallelism: " + experts
                    + " experts do not split evenly over --ep " + group.size() + " ranks");
        }
        this.group = group;
        this.tokenGroup = tokenGroup;
        this.share = share;
        this.local = experts / group.size();
        this.first = group.rank() * local;
    }

    /** The first expert this rank holds. */
    public int firstExpert() {
        return first;
    }

    /** How many experts this rank holds. */
    public int localExperts() {
        return local;
    }

    public ProcessGroup group() {
        return group;
    }

    @Override
    public Tensor experts(MoeFeedForward layer, Tensor x, Moe.Dispatch dispatch, Tensor weights) {
        int e = layer.routing().experts();
        int p = group.size();
        int n = x.size(0);
        int k = layer.routing().topK();
        int[] counts = dispatch.counts();
        long[][] all = allCounts(counts);
        long[] send = new long[p];
        long[] recv = new long[p];
        for (int q = 0; q < p; q++) {
            for (int i = 0; i < local; i++) {
                send[q] += counts[q * local + i];
                recv[q] += all[q][first + i];
            }
        }
        // the rows arrive source-major (within a source, by local expert); the experts need them expert-major
        long[] perIn = new long[local];
        int m = 0;
        for (long r : recv) {
            m += (int) r;
        }
        long[] order = new long[m];
        int at = 0;
        for (int i = 0; i < local; i++) {
            long base = 0;
            for (int s = 0; s < p; s++) {
                long before = 0;
                for (int j = 0; j < i; j++) {
                    before += all[s][first + j];
                }
                for (long r = 0; r < all[s][first + i]; r++) {
                    order[at++] = base + before + r;
                }
                perIn[i] += all[s][first + i];
                base += recv[s];
            }
        }
        Tensor rows = Indexing.indexSelect(x, 0, dispatch.tokens()); // [N·k, D], grouped by expert and so by owner
        Tensor mine = AllToAll.rows(group, rows, send, recv);
        Tensor ys;
        if (m == 0) {
            ys = Elementwise.mulScalar(mine, 0); // nothing to compute, but the backward must still reach the exchange
        } else {
            Tensor index = Tensor.ofLongs(order, m).to(x.device());
            Tensor grouped = Indexing.indexSelect(mine, 0, index);
            int[] c = new int[local];
            for (int i = 0; i < local; i++) {
                c[i] = Math.toIntExact(perIn[i]);
            }
            Tensor h = Elementwise.mul(
                    Activations.silu(maps(layer, grouped, c, MoeExpert::w1)), maps(layer, grouped, c, MoeExpert::w3));
            Tensor out = maps(layer, h, c, MoeExpert::w2);
            long[] inverse = new long[m];
            for (int r = 0; r < m; r++) {
                inverse[(int) order[r]] = r;
            }
            ys = Indexing.indexSelect(out, 0, Tensor.ofLongs(inverse, m).to(x.device()));
        }
        Tensor back = AllToAll.rows(group, ys, recv, send); // [N·k, D] in the dispatch's order
        Tensor g = Views.reshape(Indexing.indexSelect(Views.reshape(weights, n * k), 0, dispatch.pairs()), n * k, 1);
        return Indexing.indexAdd(
                Tensor.zeros(back.dtype(), x.device(), n, x.size(1)), 0, dispatch.tokens(), Elementwise.mul(back, g));
    }

    /** The local experts' linear map {@code map} over rows grouped by local expert ({@code c[i]} rows each). */
    private Tensor maps(MoeFeedForward layer, Tensor rows, int[] c, Function<MoeExpert, fulgur.nn.Linear> map) {
        Tensor[] w = new Tensor[local];
        for (int i = 0; i < local; i++) {
            w[i] = map.apply(layer.experts().get(first + i)).weight().value();
        }
        return Moe.groupedLinear(rows, c, w);
    }

    /** Every rank's per-expert counts: [rank][expert]. */
    private long[][] allCounts(int[] counts) {
        int e = counts.length;
        long[] mine = new long[e];
        for (int i = 0; i < e; i++) {
            mine[i] = counts[i];
        }
        try (Scope s = Scope.open("expert counts")) {
            Tensor out = Tensor.zeros(DType.I64, group.size() * e);
            group.allGather(Tensor.ofLongs(mine, e), out).await();
            long[] flat = out.toLongArray();
            long[][] all = new long[group.size()][e];
            for (int q = 0; q < group.size(); q++) {
                System.arraycopy(flat, q * e, all[q], 0, e);
            }
            return all;
        }
    }

    @Override
    public double[] loadFractions(MoeFeedForward layer, int[] counts, int tokens) {
        return BatchLoadBalance.fractions(layer, tokenGroup, share, counts, tokens);
    }
}
