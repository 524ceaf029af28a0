package fulgur.cuda.ops.attention;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.LaunchContext;
import fulgur.ops.attention.AttentionKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link AttentionKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}) on {@link FlashAttention}:
 * bf16 q, k, v with one head dim for keys and values (32, 64, 96, 128, 256; the backward up to 128), a positive scale.
 * The kernels align the causal mask at the end (query i sees key j ≤ i + Tk − Tq), which is the family's mask whenever
 * queryOffset = Tk − Tq (self-attention, a query block after a cached prefix, a sequence shard after the keys of the
 * shards before it). Other offsets: keys no query sees are left out (their gradients are zero), and queries that see
 * every key run as one non-causal block beside the causal one.
 */
public final class CudaAttention implements AttentionKernels {
    private final LaunchContext lc;
    private final FlashAttention fa;

    public CudaAttention(CudaBackend backend) {
        this.lc = new LaunchContext(backend);
        this.fa = new FlashAttention(backend);
    }

    public static CudaAttention on(Device device) {
        return new CudaAttention(CudaBackend.of(device));
    }

    @Override
    public boolean supports(Tensor q, Tensor k, Tensor v, double scale, boolean backward) {
        return accepts(q, k, v, scale, backward);
    }

    /** Whether flash attention takes these arguments (metadata only: no device needed). */
    public static boolean accepts(Tensor q, Tensor k, Tensor v, double scale, boolean backward) {
        if (q.dtype() != DType.BF16 || k.dtype() != DType.BF16 || v.dtype() != DType.BF16) {
            return KernelChoice.note("softmax attention", false, "flash attention takes bf16, got " + q.dtype());
        }
        int d = q.size(3);
        int[] dims = backward ? AttentionShape.BACKWARD_HEAD_DIMS : AttentionShape.HEAD_DIMS;
        boolean fits = AttentionShape.contains(dims, d)
                && v.size(3) == d
                && scale > 0
                && q.size(0) >= 1
                && q.size(0) <= 65535
                && q.size(2) <= 65535;
        if (!fits) {
            return KernelChoice.note(
                    "softmax attention",
                    false,
                    "flash attention takes head dims " + AttentionShape.dims(dims) + " (one for keys and "
                            + "values) and a positive scale, got q " + q.describe() + ", v " + v.describe());
        }
        return KernelChoice.note(
                "softmax attention",
                true,
                "flash attention (head dim " + d + ", " + FlashAttention.defaultKernels() + " kernels)");
    }

    /** How the causal mask of a call maps onto the kernels: rows [0, split) causal over the first {@code keys} keys, the rest non-causal. */
    private record Plan(int keys, int split) {
        static Plan of(boolean causal, long queryOffset, int tq, int tk, int[] cu) {
            if (!causal || cu != null) return new Plan(tk, causal ? tq : 0);
            long last = queryOffset + tq; // one past the last key a query sees
            if (last <= tk) return new Plan((int) last, tq);
            return new Plan(tk, (int) Math.max(0, tk - queryOffset));
        }
    }

    @Override
    public Tensor[] forward(
            Tensor q,
            Tensor k,
            Tensor v,
            double scale,
            boolean causal,
            long queryOffset,
            int[] cuSeqlensQ,
            int[] cuSeqlensK) {
        if (cuSeqlensQ != null) {
            FlashAttention.Output o = fa.forwardPacked(q, k, v, cuSeqlensQ, cuSeqlensK, scale, causal);
            return new Tensor[] {o.out(), o.lse()};
        }
        int tq = q.size(1), tk = k.size(1);
        Plan p = Plan.of(causal, queryOffset, tq, tk, null);
        if (p.split() == tq || p.split() == 0) {
            FlashAttention.Output o =
                    fa.forward(q, cut(k, 1, 0, p.keys()), cut(v, 1, 0, p.keys()), scale, p.split() == tq);
            return new Tensor[] {o.out(), o.lse()};
        }
        // queries past the last key see all of them: a causal block, then a non-causal one
        int s = p.split();
        FlashAttention.Output a = fa.forward(cut(q, 1, 0, s), k, v, scale, true);
        FlashAttention.Output b = fa.forward(cut(q, 1, s, tq - s), k, v, scale, false);
        Tensor out = lc.empty(DType.BF16, q.size(0), tq, q.size(2), q.size(3));
        Tensor lse = lc.empty(DType.F32, q.size(0), q.size(2), tq);
        lc.backend().copy(a.out(), cut(out, 1, 0, s));
        lc.backend().copy(b.out(), cut(out, 1, s, tq - s));
        lc.backend().copy(a.lse(), cut(lse, 2, 0, s));
        lc.backend().copy(b.lse(), cut(lse, 2, s, tq - s));
        a.close();
        b.close();
        return new Tensor[] {out, lse};
    }

    @Override
    public Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor lse,
            Tensor dOut,
            double scale,
            boolean causal,
            long queryOffset,
            int[] cuSeqlensQ,
            int[] cuSeqlensK) {
        Tensor dob = dOut.dtype() == DType.BF16 ? dOut : lc.dense(dOut, DType.BF16);
        try {
            if (cuSeqlensQ != null) {
                FlashAttention.Gradients g =
                        fa.backwardPacked(q, k, v, out, lse, dob, cuSeqlensQ, cuSeqlensK, scale, causal);
                return new Tensor[] {g.dq(), g.dk(), g.dv()};
            }
            int tq = q.size(1), tk = k.size(1);
            Plan p = Plan.of(causal, queryOffset, tq, tk, null);
            if (p.split() == tq || p.split() == 0) {
                FlashAttention.Gradients g = fa.backward(
                        q, cut(k, 1, 0, p.keys()), cut(v, 1, 0, p.keys()), out, lse, dob, scale, p.split() == tq);
                return new Tensor[] {g.dq(), padKeys(g.dk(), tk), padKeys(g.dv(), tk)};
            }
            int s = p.split();
            FlashAttention.Gradients a = fa.backward(
                    cut(q, 1, 0, s), k, v, cut(out, 1, 0, s), cut(lse, 2, 0, s), cut(dob, 1, 0, s), scale, true);
            FlashAttention.Gradients b = fa.backward(
                    cut(q, 1, s, tq - s),
                    k,
                    v,
                    cut(out, 1, s, tq - s),
                    cut(lse, 2, s, tq - s),
                    cut(dob, 1, s, tq - s),
                    scale,
                    false);
            Tensor dq = lc.empty(DType.BF16, q.shape());
            lc.backend().copy(a.dq(), cut(dq, 1, 0, s));
            lc.backend().copy(b.dq(), cut(dq, 1, s, tq - s));
            Tensor dk = lc.backend().binary(fulgur.backend.BinaryOp.ADD, a.dk(), b.dk());
            Tensor dv = lc.backend().binary(fulgur.backend.BinaryOp.ADD, a.dv(), b.dv());
            a.close();
            b.close();
            return new Tensor[] {dq, dk, dv};
        } finally {
            LaunchContext.release(dob, dOut);
        }
    }

    /** A view along one axis, outside the graph. */
    private static Tensor cut(Tensor t, int axis, int start, int length) {
        Tensor d = t.detach();
        return start == 0 && length == t.size(axis) ? d : d.narrow(axis, start, length);
    }

    /** The gradient of the first keys of {@code tk}, zero for the keys no query saw. */
    private Tensor padKeys(Tensor g, int tk) {
        if (g.size(1) == tk) return g;
        Tensor full = lc.zeros(g.dtype(), g.size(0), tk, g.size(2), g.size(3));
        lc.backend().copy(g, cut(full, 1, 0, g.size(1)));
        g.close();
        return full;
    }
}
