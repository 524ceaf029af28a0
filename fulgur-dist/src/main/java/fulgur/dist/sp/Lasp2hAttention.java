package fulgur.dist.sp;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.dist.DistException;
import fulgur.dist.ProcessGroup;
import fulgur.dist.ReduceOp;
import fulgur.dist.Work;
import fulgur.ops.Views;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.ops.attention.SoftmaxAttentionOp;
import fulgur.tensor.Tensor;

/**
 * LASP-2H for the softmax-attention layers of hybrid models (AllGather-based context parallelism, LASP-2 paper
 * Alg. 7): each rank all-gathers the keys and values of its sequence-parallel group, keeps those of the ranks up to
 * its own (causal), and attends from its queries with its causal offset (the position of its first query) through
 * the tiled {@link SoftmaxAttention} op. Backward: the op's gradients for the gathered keys and values go back to
 * their owners with one reduce-scatter each. Communication per layer: two all-gathers of B·T_r·Hkv·d forward, two
 * reduce-scatters backward, independent of the number of query heads (small with GQA).
 * The slices must be of equal length.
 */
public final class Lasp2hAttention implements SoftmaxAttentionOp {
    private final ProcessGroup group;
    private final SequenceLayout layout;

    public Lasp2hAttention(ProcessGroup group, SequenceLayout layout) {
        if (group.size() != layout.ranks()) {
            throw new DistException("LASP-2H: the layout " + layout + " is for " + layout.ranks() + " ranks but group '"
                    + group.name() + "' has " + group.size());
        }
        this.group = group;
        this.layout = layout;
    }

    @Override
    public Tensor apply(Tensor q, Tensor k, Tensor v, double scale, boolean causal) {
        String op = "lasp2h.attention";
        int rank = group.rank(), w = group.size();
        int tr = q.size(1);
        if (tr != layout.length(rank) || k.size(1) != tr || v.size(1) != tr) {
            throw new DistException(op + " on group '" + group.name() + "' (rank " + rank + " of " + w
                    + "): q, k, v hold " + q.size(1) + ", " + k.size(1) + ", " + v.size(1)
                    + " positions but the sequence layout " + layout + " gives this rank " + layout.length(rank));
        }
        for (int r = 0; r < w; r++) {
            if (layout.length(r) != tr) {
                throw new DistException(op + ": LASP-2H needs slices of equal length, got " + layout);
            }
        }
        Tensor kc = k.detach().contiguous();
        Tensor vc = v.detach().contiguous();
        int b = k.size(0), hk = k.size(2), d = k.size(3), dv = v.size(3);
        Tensor gk = Tensor.empty(kc.dtype(), w, b, tr, hk, d);
        Tensor gv = Tensor.empty(vc.dtype(), w, b, tr, hk, dv);
        Work wk = group.allGather(kc, gk);
        Work wv = group.allGather(vc, gv);
        wk.await();
        wv.await();
        int visible = causal ? (rank + 1) * tr : w * tr;
        long offset = layout.offset(rank);
        Tensor kAll = rankMajorToSequence(gk).narrow(1, 0, visible).contiguous().requiresGrad(true);
        Tensor vAll = rankMajorToSequence(gv).narrow(1, 0, visible).contiguous().requiresGrad(true);
        Tensor qLeaf = q.detach().requiresGrad(true);
        if (!Autograd.needsGrad(q, k, v)) {
            try (var g = GradMode.noGrad()) {
                return SoftmaxAttention.attention(qLeaf, kAll, vAll, scale, causal, offset);
            }
        }
        Tensor inner = SoftmaxAttention.attention(qLeaf, kAll, vAll, scale, causal, offset);
        return Autograd.record(op, inner.detach(), new Tensor[] {q, k, v}, g -> {
            inner.backward(g);
            Tensor dk = scatterBack(kAll.grad(), w, tr, visible, k);
            Tensor dv2 = scatterBack(vAll.grad(), w, tr, visible, v);
            return new Tensor[] {qLeaf.grad(), dk, dv2};
        });
    }

    /** [W, B, T_r, H, D] → [B, W·T_r, H, D]. */
    private static Tensor rankMajorToSequence(Tensor g) {
        int w = g.size(0), b = g.size(1), tr = g.size(2), h = g.size(3), d = g.size(4);
        return Views.reshape(Views.permute(g, 1, 0, 2, 3, 4).contiguous(), b, w * tr, h, d);
    }

    /** The gradient of the gathered (visible) keys, summed over the ranks into this rank's slice. */
    private Tensor scatterBack(Tensor grad, int w, int tr, int visible, Tensor like) {
        int b = grad.size(0), h = grad.size(2), d = grad.size(3);
        Tensor full =
                visible == w * tr ? grad : Views.concat(1, grad, Tensor.zeros(grad.dtype(), b, w * tr - visible, h, d));
        Tensor rankMajor = Views.permute(Views.reshape(full, b, w, tr, h, d), 1, 0, 2, 3, 4)
                .contiguous();
        Tensor mine = Tensor.empty(grad.dtype(), b, tr, h, d);
        group.reduceScatter(rankMajor, mine, ReduceOp.SUM).await();
        return mine.dtype() == like.dtype() ? mine : mine.to(like.dtype());
    }
}
