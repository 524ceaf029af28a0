package fulgur.dist.ep;

import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/**
 * The load-balancing loss of a MoE layer over the whole batch when its tokens are spread over ranks. One rank alone
 * computes α·E·Σ_i f_i·P_i with f_i its tokens' share routed to expert i and P_i their mean routing probability. With
 * the batch on many ranks, f_i must be the whole batch's: each rank's per-expert counts and token count are summed
 * over the ranks holding the batch's tokens. A rank keeps its own tokens' P_i (that is where its gradient flows),
 * weighted by its token share n_r/N over the share of the loss it carries: the ranks' weighted losses then add up to
 * the single-rank loss, and so do their gradients.
 */
final class BatchLoadBalance {
    private BatchLoadBalance() {}

    static double[] fractions(
            fulgur.layers.MoeFeedForward layer, ProcessGroup tokenGroup, LossShare share, int[] counts, int tokens) {
        int e = counts.length;
        if (!layer.isTraining()) {
            double[] f = new double[e];
            for (int i = 0; i < e; i++) {
                f[i] = (double) counts[i] / tokens;
            }
            return f;
        }
        long[] v = new long[e + 1];
        for (int i = 0; i < e; i++) {
            v[i] = counts[i];
        }
        v[e] = tokens;
        long[] sum;
        try (Scope s = Scope.open("load balance")) {
            Tensor t = Tensor.ofLongs(v, e + 1);
            tokenGroup.allReduce(t, ReduceOp.SUM).await();
            sum = t.toLongArray();
        }
        double total = sum[e];
        double w = share.get();
        double scale = Double.isNaN(w) || w == 0 ? 1 : tokens / total / w;
        double[] f = new double[e];
        for (int i = 0; i < e; i++) {
            f[i] = sum[i] / total * scale;
        }
        return f;
    }
}
