package fulgur.ops.attention;

import fulgur.autograd.GradMode;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The CPU's {@link AttentionKernels}: the tiled f32 kernel of {@link AttentionKernel}. Packed sequences run one
 * after another (each on contiguous copies of its rows).
 */
public final class AttentionCpu implements AttentionKernels {
    public static final AttentionCpu INSTANCE = new AttentionCpu();

    private AttentionCpu() {}

    @Override
    public Tensor[] forward(
            Tensor q, Tensor k, Tensor v, double scale, boolean causal, long queryOffset, int[] cuQ, int[] cuK) {
        try (var g = GradMode.noGrad()) {
            if (cuQ == null) {
                return forward(q, k, v, scale, causal, queryOffset);
            }
            int n = cuQ.length - 1;
            Tensor[] outs = new Tensor[n];
            Tensor[] lses = new Tensor[n];
            for (int i = 0; i < n; i++) {
                int lq = cuQ[i + 1] - cuQ[i], lk = cuK[i + 1] - cuK[i];
                Tensor[] r = forward(
                        Views.narrow(q, 1, cuQ[i], lq),
                        Views.narrow(k, 1, cuK[i], lk),
                        Views.narrow(v, 1, cuK[i], lk),
                        scale,
                        causal,
                        lk - lq);
                outs[i] = r[0];
                lses[i] = r[1];
            }
            return new Tensor[] {Views.concat(1, outs), Views.concat(2, lses)};
        }
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
            int[] cuQ,
            int[] cuK) {
        try (var g = GradMode.noGrad()) {
            if (cuQ == null) {
                return backward(q, k, v, out, lse, dOut, scale, causal, queryOffset);
            }
            int n = cuQ.length - 1;
            Tensor[] dq = new Tensor[n], dk = new Tensor[n], dv = new Tensor[n];
            for (int i = 0; i < n; i++) {
                int lq = cuQ[i + 1] - cuQ[i], lk = cuK[i + 1] - cuK[i];
                Tensor[] r = backward(
                        Views.narrow(q, 1, cuQ[i], lq),
                        Views.narrow(k, 1, cuK[i], lk),
                        Views.narrow(v, 1, cuK[i], lk),
                        Views.narrow(out, 1, cuQ[i], lq),
                        Views.narrow(lse, 2, cuQ[i], lq),
                        Views.narrow(dOut, 1, cuQ[i], lq),
                        scale,
                        causal,
                        lk - lq);
                dq[i] = r[0];
                dk[i] = r[1];
                dv[i] = r[2];
            }
            return new Tensor[] {Views.concat(1, dq), Views.concat(1, dk), Views.concat(1, dv)};
        }
    }

    private static Tensor[] forward(Tensor q, Tensor k, Tensor v, double scale, boolean causal, long offset) {
        AttentionShape s = shape(q, k, v);
        Tensor out = Tensor.empty(DType.F32, s.batch(), s.tq(), s.heads(), s.dv());
        Tensor lse = Tensor.empty(DType.F32, s.batch(), s.heads(), s.tq());
        if (s.tq() > 0) {
            AttentionKernel.forward(
                    s, (float) scale, causal, offset, seg(f32(q)), seg(f32(k)), seg(f32(v)), seg(out), seg(lse));
        }
        return new Tensor[] {out, lse};
    }

    private static Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor lse,
            Tensor dOut,
            double scale,
            boolean causal,
            long offset) {
        AttentionShape s = shape(q, k, v);
        if (s.tq() == 0 || s.tk() == 0) {
            return new Tensor[] {
                Tensor.zeros(DType.F32, q.shape()),
                Tensor.zeros(DType.F32, k.shape()),
                Tensor.zeros(DType.F32, v.shape())
            };
        }
        Tensor dq = Tensor.empty(DType.F32, q.shape());
        Tensor dk = Tensor.empty(DType.F32, k.shape());
        Tensor dv = Tensor.empty(DType.F32, v.shape());
        {
            AttentionKernel.backward(
                    s,
                    (float) scale,
                    causal,
                    offset,
                    seg(f32(q)),
                    seg(f32(k)),
                    seg(f32(v)),
                    seg(f32(out)),
                    seg(f32(lse)),
                    seg(f32(dOut)),
                    seg(dq),
                    seg(dk),
                    seg(dv));
        }
        return new Tensor[] {dq, dk, dv};
    }

    private static AttentionShape shape(Tensor q, Tensor k, Tensor v) {
        return new AttentionShape(q.size(0), q.size(1), k.size(1), q.size(2), k.size(2), q.size(3), v.size(3));
    }

    private static Tensor f32(Tensor t) {
        Tensor c = t.dtype() == DType.F32 ? t.detach() : t.detach().to(DType.F32);
        return c.isContiguous() ? c : c.contiguous();
    }

    private static MemorySegment seg(Tensor t) {
        return t.hostSegment("softmaxAttention").asSlice(t.offset() * Float.BYTES, t.numel() * Float.BYTES);
    }
}
