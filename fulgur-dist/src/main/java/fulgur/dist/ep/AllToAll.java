package fulgur.dist.ep;

import fulgur.autograd.Autograd;
import fulgur.dist.ProcessGroup;
import fulgur.tensor.Tensor;

/**
 * The all-to-all of rows as an autograd op: rows [Σ send, D] go out rank-major ({@code sendRows[d]} rows to rank d) and
 * [Σ recv, D] come in; the backward sends the rows' gradients back the same way in reverse. Every rank of the group
 * must run it (and so its backward) in the same order, with counts that agree pairwise.
 */
final class AllToAll {
    private AllToAll() {}

    static Tensor rows(ProcessGroup group, Tensor x, long[] sendRows, long[] recvRows) {
        Tensor out = exchange(group, x.contiguous(), sendRows, recvRows);
        return Autograd.record("allToAll", out, new Tensor[] {x}, g ->
                new Tensor[] {exchange(group, g.contiguous(), recvRows, sendRows)});
    }

    private static Tensor exchange(ProcessGroup group, Tensor x, long[] sendRows, long[] recvRows) {
        int d = x.size(1);
        long[] send = new long[sendRows.length];
        long[] recv = new long[recvRows.length];
        long rows = 0;
        for (int r = 0; r < send.length; r++) {
            send[r] = sendRows[r] * d;
            recv[r] = recvRows[r] * d;
            rows += recvRows[r];
        }
        Tensor out = Tensor.empty(x.dtype(), x.device(), Math.toIntExact(rows), d);
        group.allToAll(x, send, out, recv).await();
        return out;
    }
}
