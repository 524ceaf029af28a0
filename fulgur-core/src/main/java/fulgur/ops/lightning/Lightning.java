package fulgur.ops.lightning;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import fulgur.ops.Views;
import java.lang.foreign.MemorySegment;

/**
 * Lightning attention as an autograd op on tensors [B, T, H, D]: o_t = scale·Σ_{s≤t} λ^{t−s}(q_t·k_s) v_s with
 * λ_h = exp(−slope_h), optionally from an initial state [B, H, dk, dv] and returning the final state. The chunked
 * form (Lightning Attention-2) trains; the recurrent form decodes. Compute is f32 (f64 for f64 inputs); bf16/f16
 * inputs are converted and the output returns in the input dtype; states are always f32 (or f64).
 */
public final class Lightning {
    private Lightning() {}

    /** Output and, when asked for, the final state. */
    public record Result(Tensor output, Tensor finalState) {}

    /** The chunked op with the defaults: scale 1, block 64, no states. */
    public static Tensor attention(Tensor q, Tensor k, Tensor v, double[] slopes) {
        return chunked(q, k, v, slopes, 1.0, null, false, LightningChunked.DEFAULT_BLOCK, null).output();
    }

    /**
     * Chunked forward; the backward is the hand-written Lightning-2 backward. Gradients flow to q, k, v and the
     * initial state, and from the output and the final state.
     *
     * @param cuSeqlens packed variable-length sequences (batch must be 1), or null
     */
    public static Result chunked(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor initialState,
                                 boolean wantFinalState, int blockSize, int[] cuSeqlens) {
        String op = "lightning.chunked";
        LightningShape shape = shapeOf(op, q, k, v);
        DType ct = q.dtype() == DType.F64 ? DType.F64 : DType.F32;
        int n = cuSeqlens == null ? shape.batch() : cuSeqlens.length - 1;
        int[] stateShape = {n, shape.heads(), shape.dk(), shape.dv()};
        if (initialState != null && !java.util.Arrays.equals(initialState.shape(), stateShape)) {
            throw new IllegalArgumentException(op + ": initial state " + initialState.describe() + " does not match the expected " + Shape.str(stateShape));
        }
        Tensor qc = cpuContiguous(q, ct);
        Tensor kc = cpuContiguous(k, ct);
        Tensor vc = cpuContiguous(v, ct);
        Tensor s0 = initialState == null ? null : cpuContiguous(initialState, ct);
        long outNumel = (long) shape.batch() * shape.seqLen() * shape.heads() * shape.dv();
        long stateNumel = Shape.numel(stateShape);
        // Output and final state share one buffer, so the pair is a single node of the graph.
        Tensor packed = Tensor.empty(ct, Shape.toInt(op, outNumel + (wantFinalState ? stateNumel : 0)));
        int es = ct.byteSize();
        MemorySegment all = packed.hostSegment(op);
        MemorySegment out = all.asSlice(0, outNumel * es);
        MemorySegment sT = wantFinalState ? all.asSlice(outNumel * es, stateNumel * es) : null;
        if (ct == DType.F32) {
            LightningChunked.forward(shape, seg(qc), seg(kc), seg(vc), slopes, scale, blockSize, cuSeqlens, s0 == null ? null : seg(s0), out, sT);
        } else {
            LightningChunked.forwardF64(shape, seg(qc), seg(kc), seg(vc), slopes, scale, blockSize, cuSeqlens, s0 == null ? null : seg(s0), out, sT);
        }
        Tensor[] inputs = {q, k, v, initialState};
        Tensor node = Autograd.record(op, packed, inputs, g -> {
            Tensor gc = cpuContiguous(g, ct);
            MemorySegment ga = seg(gc);
            MemorySegment dOut = ga.asSlice(0, outNumel * es);
            MemorySegment dsT = wantFinalState ? ga.asSlice(outNumel * es, stateNumel * es) : null;
            Tensor dq = Tensor.empty(ct, q.shape());
            Tensor dk = Tensor.empty(ct, k.shape());
            Tensor dv = Tensor.empty(ct, v.shape());
            Tensor ds0 = s0 == null ? null : Tensor.empty(ct, stateShape);
            if (ct == DType.F32) {
                LightningChunked.backward(shape, seg(qc), seg(kc), seg(vc), slopes, scale, blockSize, cuSeqlens, s0 == null ? null : seg(s0),
                        dOut, dsT, seg(dq), seg(dk), seg(dv), ds0 == null ? null : seg(ds0));
            } else {
                LightningChunked.backwardF64(shape, seg(qc), seg(kc), seg(vc), slopes, scale, blockSize, cuSeqlens, s0 == null ? null : seg(s0),
                        dOut, dsT, seg(dq), seg(dk), seg(dv), ds0 == null ? null : seg(ds0));
            }
            return new Tensor[] {back(dq, q), back(dk, k), back(dv, v), ds0 == null ? null : back(ds0, initialState)};
        });
        int[] outShape = {shape.batch(), shape.seqLen(), shape.heads(), shape.dv()};
        Tensor o = Views.reshape(Views.narrow(node, 0, 0, (int) outNumel), outShape);
        if (q.dtype() != ct) {
            o = o.to(q.dtype());
        }
        Tensor fs = wantFinalState ? Views.reshape(Views.narrow(node, 0, (int) outNumel, (int) stateNumel), stateShape) : null;
        return new Result(o, fs);
    }

    /**
     * Decoding: consumes the T tokens of q, k, v [B, T, H, D] one after another, advancing {@code state}
     * [B, H, dk, dv] (f32, updated in place) and returning the outputs. No gradients.
     */
    public static Tensor recurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
        String op = "lightning.recurrent";
        LightningShape shape = shapeOf(op, q, k, v);
        int[] stateShape = {shape.batch(), shape.heads(), shape.dk(), shape.dv()};
        if (!java.util.Arrays.equals(state.shape(), stateShape) || !state.isContiguous()) {
            throw new IllegalArgumentException(op + ": state " + state.describe() + " must be a contiguous " + Shape.str(stateShape));
        }
        DType ct = state.dtype();
        if (ct != DType.F32 && ct != DType.F64) {
            throw new IllegalArgumentException(op + ": state must be f32 or f64, got " + state.describe());
        }
        try (var g = GradMode.noGrad()) {
            Tensor qc = cpuContiguous(q, ct);
            Tensor kc = cpuContiguous(k, ct);
            Tensor vc = cpuContiguous(v, ct);
            Tensor out = Tensor.empty(ct, shape.batch(), shape.seqLen(), shape.heads(), shape.dv());
            MemorySegment st = seg(state);
            if (ct == DType.F32) {
                LightningRecurrent.forward(shape, seg(qc), seg(kc), seg(vc), slopes, scale, st, seg(out));
            } else {
                LightningRecurrent.forwardF64(shape, seg(qc), seg(kc), seg(vc), slopes, scale, st, seg(out));
            }
            return q.dtype() == ct ? out : out.to(q.dtype());
        }
    }

    private static LightningShape shapeOf(String op, Tensor q, Tensor k, Tensor v) {
        for (Tensor t : new Tensor[] {q, k, v}) {
            t.checkAlive(op);
            if (t.ndim() != 4) {
                throw new IllegalArgumentException(op + ": expected [B, T, H, D] tensors, got " + t.describe());
            }
            if (t.device().kind() != Device.Kind.CPU) {
                throw new IllegalArgumentException(op + ": the CPU kernel got " + t.describe());
            }
        }
        int b = q.size(0);
        int t = q.size(1);
        int h = q.size(2);
        if (k.size(0) != b || k.size(1) != t || k.size(2) != h || k.size(3) != q.size(3)
                || v.size(0) != b || v.size(1) != t || v.size(2) != h) {
            throw new IllegalArgumentException(op + ": q " + Shape.str(q.shape()) + ", k " + Shape.str(k.shape()) + ", v " + Shape.str(v.shape())
                    + " do not agree (expected q, k [B,T,H,dk] and v [B,T,H,dv])");
        }
        return new LightningShape(b, t, h, q.size(3), v.size(3));
    }

    private static Tensor cpuContiguous(Tensor t, DType ct) {
        Tensor c = t.dtype() == ct ? t.detach() : t.detach().to(ct);
        return c.isContiguous() ? c : c.contiguous();
    }

    private static MemorySegment seg(Tensor t) {
        MemorySegment s = t.hostSegment("lightning");
        long es = t.dtype().byteSize();
        return s.asSlice(t.offset() * es, t.numel() * es);
    }

    private static Tensor back(Tensor grad, Tensor like) {
        return grad.dtype() == like.dtype() ? grad : grad.to(like.dtype());
    }
}
