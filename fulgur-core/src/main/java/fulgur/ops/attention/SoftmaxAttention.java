package fulgur.ops.attention;

import fulgur.autograd.Autograd;
import fulgur.backend.Kernels;
import fulgur.ops.Activations;
import fulgur.ops.CuSeqlens;
import fulgur.ops.Elementwise;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/**
 * Softmax attention on tensors laid out {@code [B, T, H, D]}, for the softmax layers of hybrid models:
 * {@code o_i = Σ_j softmax_j(scale·q_i·k_j) v_j} per head, with grouped key/value heads (query head h reads
 * key/value head {@code h / (H/Hkv)}) and an optional causal mask that works in whole-sequence positions: query
 * i sits at position {@code queryOffset + i}, key j at position j, and i sees j iff {@code j ≤ queryOffset + i}.
 * With queryOffset 0 and as many queries as keys this is ordinary causal self-attention; sequence parallelism
 * (LASP-2H) passes a rank's queries with the keys gathered from the ranks before it and its own offset.
 *
 * <p>Two forms: {@link #attention} runs the device's {@link AttentionKernels} (flash-style: online softmax over key
 * blocks, the T×T score matrix never materialised, hand-written backward that recomputes the probabilities from the
 * saved row log-sum-exp; the CPU's computes in f32, bf16/f16 inputs are converted and the output returns in the input
 * dtype); {@link #naive} composes autograd ops with the full score matrix, is the test oracle, and is what
 * {@link #attention} runs on a device without kernels and for f64 inputs (so gradient checks run in f64).
 */
public final class SoftmaxAttention {

    private SoftmaxAttention() {}

    /** The op; gradients flow to q, k and v. */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, double scale, boolean causal, long queryOffset) {
        return attention(q, k, v, scale, causal, queryOffset, null, null);
    }

    /**
     * The op over packed variable-length sequences (batch 1): query sequence n ({@code cuSeqlensQ[n]} up to
     * {@code cuSeqlensQ[n + 1]} on the T axis of q) attends only key sequence n of k and v, causally aligned at its end
     * (see {@link AttentionKernels}); both null for ordinary batches. queryOffset must be 0 with packed sequences.
     */
    public static Tensor attention(
            Tensor q,
            Tensor k,
            Tensor v,
            double scale,
            boolean causal,
            long queryOffset,
            int[] cuSeqlensQ,
            int[] cuSeqlensK) {
        String op = "softmaxAttention";
        AttentionShape s = shapeOf(op, q, k, v, scale, queryOffset);
        if ((cuSeqlensQ == null) != (cuSeqlensK == null)) {
            throw new IllegalArgumentException(op + ": give both cuSeqlensQ and cuSeqlensK, or neither");
        }
        if (cuSeqlensQ != null) {
            int n = CuSeqlens.check(op + " (cuSeqlensQ)", cuSeqlensQ, s.batch(), s.tq());
            if (CuSeqlens.check(op + " (cuSeqlensK)", cuSeqlensK, s.batch(), s.tk()) != n) {
                throw new IllegalArgumentException(
                        op + ": cuSeqlensQ and cuSeqlensK hold different numbers of sequences");
            }
            if (queryOffset != 0) {
                throw new IllegalArgumentException(
                        op + ": queryOffset must be 0 with packed sequences, got " + queryOffset);
            }
        }
        AttentionKernels found = q.dtype() == DType.F64 ? null : Kernels.find(AttentionKernels.class, q.device());
        AttentionKernels kn =
                found != null && found.supports(q, k, v, scale, Autograd.needsGrad(q, k, v)) ? found : null;
        if (kn == null) {
            return cuSeqlensQ == null
                    ? naive(q, k, v, scale, causal, queryOffset)
                    : naivePacked(q, k, v, scale, causal, cuSeqlensQ, cuSeqlensK);
        }
        Tensor[] r = kn.forward(q, k, v, scale, causal, queryOffset, cuSeqlensQ, cuSeqlensK);
        Tensor out = r[0];
        Tensor lse = r[1];
        Tensor node = Autograd.record(op, out, new Tensor[] {q, k, v}, g -> {
            Tensor[] d = kn.backward(q, k, v, out, lse, g, scale, causal, queryOffset, cuSeqlensQ, cuSeqlensK);
            return new Tensor[] {back(d[0], q), back(d[1], k), back(d[2], v)};
        });
        return q.dtype() == node.dtype() ? node : node.to(q.dtype());
    }

    /** {@link #naive} sequence by sequence. */
    private static Tensor naivePacked(
            Tensor q, Tensor k, Tensor v, double scale, boolean causal, int[] cuQ, int[] cuK) {
        Tensor[] outs = new Tensor[cuQ.length - 1];
        for (int i = 0; i < outs.length; i++) {
            int lq = cuQ[i + 1] - cuQ[i], lk = cuK[i + 1] - cuK[i];
            outs[i] = naive(
                    Views.narrow(q, 1, cuQ[i], lq),
                    Views.narrow(k, 1, cuK[i], lk),
                    Views.narrow(v, 1, cuK[i], lk),
                    scale,
                    causal,
                    lk - lq);
        }
        return outs.length == 1 ? outs[0] : Views.concat(1, outs);
    }

    /** The same op from autograd ops, with the full [B, H, Tq, Tk] score matrix: the oracle for tests. */
    public static Tensor naive(Tensor q, Tensor k, Tensor v, double scale, boolean causal, long queryOffset) {
        AttentionShape s = shapeOf("softmaxAttention.naive", q, k, v, scale, queryOffset);
        int group = s.heads() / s.kvHeads();
        Tensor kh = repeatHeads(k, group);
        Tensor vh = repeatHeads(v, group);
        Tensor qp = Views.permute(q, 0, 2, 1, 3); // [B,H,Tq,d]
        Tensor kp = Views.permute(kh, 0, 2, 3, 1); // [B,H,d,Tk]
        Tensor vp = Views.permute(vh, 0, 2, 1, 3); // [B,H,Tk,dv]
        Tensor scores = Elementwise.mulScalar(LinearAlgebra.matmul(qp, kp), scale);
        if (causal) {
            double[] mask = new double[s.tq() * s.tk()];
            for (int i = 0; i < s.tq(); i++) {
                for (int j = 0; j < s.tk(); j++) {
                    mask[i * s.tk() + j] = j <= queryOffset + i ? 0 : -1e30;
                }
            }
            Tensor m = Tensor.of(q.dtype(), mask, s.tq(), s.tk());
            scores = Elementwise.add(scores, m.device().equals(q.device()) ? m : m.to(q.device()));
        }
        Tensor p = Activations.softmax(scores, -1);
        return Views.permute(LinearAlgebra.matmul(p, vp), 0, 2, 1, 3).contiguous();
    }

    private static Tensor repeatHeads(Tensor x, int group) {
        if (group == 1) {
            return x;
        }
        int b = x.size(0), t = x.size(1), hk = x.size(2), d = x.size(3);
        Tensor e = Views.expand(Views.reshape(x, b, t, hk, 1, d), b, t, hk, group, d);
        return Views.reshape(e.contiguous(), b, t, hk * group, d);
    }

    static AttentionShape shapeOf(String op, Tensor q, Tensor k, Tensor v, double scale, long queryOffset) {
        for (Tensor t : new Tensor[] {q, k, v}) {
            t.checkAlive(op);
            if (t.ndim() != 4) {
                throw new IllegalArgumentException(op + ": expected [B, T, H, D] tensors, got " + t.describe());
            }
            if (!t.device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": q " + q.describe() + " and " + t.describe() + " are on different devices");
            }
            if (!t.dtype().isFloating()) {
                throw new IllegalArgumentException(op + ": expected floating tensors, got " + t.describe());
            }
        }
        int b = q.size(0), tq = q.size(1), h = q.size(2), d = q.size(3);
        int tk = k.size(1), hk = k.size(2);
        if (k.size(0) != b || v.size(0) != b || k.size(3) != d || v.size(1) != tk || v.size(2) != hk) {
            throw new IllegalArgumentException(
                    op + ": q " + Shape.str(q.shape()) + ", k " + Shape.str(k.shape()) + ", v " + Shape.str(v.shape())
                            + " do not agree (expected q [B,Tq,H,d], k [B,Tk,Hkv,d], v [B,Tk,Hkv,dv])");
        }
        if (h % hk != 0) {
            throw new IllegalArgumentException(
                    op + ": " + h + " query heads are not a multiple of " + hk + " key/value heads");
        }
        if (queryOffset < 0) {
            throw new IllegalArgumentException(op + ": query offset must be >= 0, got " + queryOffset);
        }
        if (!Double.isFinite(scale)) {
            throw new IllegalArgumentException(op + ": scale must be finite, got " + scale);
        }
        return new AttentionShape(b, tq, tk, h, hk, d, v.size(3));
    }

    private static Tensor back(Tensor grad, Tensor like) {
        return grad.dtype() == like.dtype() ? grad : grad.to(like.dtype());
    }
}
