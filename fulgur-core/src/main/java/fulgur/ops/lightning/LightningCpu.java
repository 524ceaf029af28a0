package fulgur.ops.lightning;

import fulgur.autograd.GradMode;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;

/**
 * The CPU's {@link LightningKernels}: f32 compute (f64 for f64 inputs) through {@link LightningChunked} and
 * {@link LightningRecurrent}. Arguments are validated by {@link Lightning}.
 */
public final class LightningCpu implements LightningKernels {
    public static final LightningCpu INSTANCE = new LightningCpu();

    private LightningCpu() {}

    static DType computeType(Tensor q) {
        return q.dtype() == DType.F64 ? DType.F64 : DType.F32;
    }

    /** Output [B, T, H, dv] and, when asked for, the final state, packed into one flat tensor of the compute type. */
    @Override
    public Tensor forward(
            Tensor q,
            Tensor k,
            Tensor v,
            double[] slopes,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int blockSize,
            int[] cuSeqlens) {
        String op = "lightning.chunked";
        LightningShape shape = Lightning.shapeOf(op, q, k, v);
        DType ct = computeType(q);
        int n = cuSeqlens == null ? shape.batch() : cuSeqlens.length - 1;
        long outNumel = shape.voElements();
        long stateNumel = shape.stateElements(n);
        try (var g = GradMode.noGrad()) {
            Tensor qc = contiguous(q, ct);
            Tensor kc = contiguous(k, ct);
            Tensor vc = contiguous(v, ct);
            Tensor s0 = initialState == null ? null : contiguous(initialState, ct);
            Tensor packed = Tensor.empty(ct, Shape.toInt(op, outNumel + (wantFinalState ? stateNumel : 0)));
            int es = ct.byteSize();
            MemorySegment all = packed.hostSegment(op);
            MemorySegment out = all.asSlice(0, outNumel * es);
            MemorySegment sT = wantFinalState ? all.asSlice(outNumel * es, stateNumel * es) : null;
            if (ct == DType.F32) {
                LightningChunked.forward(
                        shape,
                        seg(qc),
                        seg(kc),
                        seg(vc),
                        slopes,
                        scale,
                        blockSize,
                        cuSeqlens,
                        s0 == null ? null : seg(s0),
                        out,
                        sT);
            } else {
                LightningChunked.forwardF64(
                        shape,
                        seg(qc),
                        seg(kc),
                        seg(vc),
                        slopes,
                        scale,
                        blockSize,
                        cuSeqlens,
                        s0 == null ? null : seg(s0),
                        out,
                        sT);
            }
            return packed;
        }
    }

    /** {dq, dk, dv, dInitialState} in the compute type from the gradient of the packed forward result. */
    @Override
    public Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            double[] slopes,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int blockSize,
            int[] cuSeqlens,
            Tensor packedGrad) {
        String op = "lightning.chunked";
        LightningShape shape = Lightning.shapeOf(op, q, k, v);
        DType ct = computeType(q);
        int n = cuSeqlens == null ? shape.batch() : cuSeqlens.length - 1;
        int[] stateShape = {n, shape.heads(), shape.dk(), shape.dv()};
        long outNumel = shape.voElements();
        long stateNumel = shape.stateElements(n);
        int es = ct.byteSize();
        try (var g = GradMode.noGrad()) {
            Tensor qc = contiguous(q, ct);
            Tensor kc = contiguous(k, ct);
            Tensor vc = contiguous(v, ct);
            Tensor s0 = initialState == null ? null : contiguous(initialState, ct);
            Tensor gc = contiguous(packedGrad, ct);
            MemorySegment ga = seg(gc);
            MemorySegment dOut = ga.asSlice(0, outNumel * es);
            MemorySegment dsT = wantFinalState ? ga.asSlice(outNumel * es, stateNumel * es) : null;
            Tensor dq = Tensor.empty(ct, q.shape());
            Tensor dk = Tensor.empty(ct, k.shape());
            Tensor dv = Tensor.empty(ct, v.shape());
            Tensor ds0 = s0 == null ? null : Tensor.empty(ct, stateShape);
            if (ct == DType.F32) {
                LightningChunked.backward(
                        shape,
                        seg(qc),
                        seg(kc),
                        seg(vc),
                        slopes,
                        scale,
                        blockSize,
                        cuSeqlens,
                        s0 == null ? null : seg(s0),
                        dOut,
                        dsT,
                        seg(dq),
                        seg(dk),
                        seg(dv),
                        ds0 == null ? null : seg(ds0));
            } else {
                LightningChunked.backwardF64(
                        shape,
                        seg(qc),
                        seg(kc),
                        seg(vc),
                        slopes,
                        scale,
                        blockSize,
                        cuSeqlens,
                        s0 == null ? null : seg(s0),
                        dOut,
                        dsT,
                        seg(dq),
                        seg(dk),
                        seg(dv),
                        ds0 == null ? null : seg(ds0));
            }
            return new Tensor[] {dq, dk, dv, ds0};
        }
    }

    /** Decoding: outputs in the state's dtype; the state advances in place. */
    @Override
    public Tensor recurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
        LightningShape shape = Lightning.shapeOf("lightning.recurrent", q, k, v);
        DType ct = state.dtype();
        try (var g = GradMode.noGrad()) {
            Tensor qc = contiguous(q, ct);
            Tensor kc = contiguous(k, ct);
            Tensor vc = contiguous(v, ct);
            Tensor out = Tensor.empty(ct, shape.batch(), shape.seqLen(), shape.heads(), shape.dv());
            MemorySegment st = seg(state);
            if (ct == DType.F32) {
                LightningRecurrent.forward(shape, seg(qc), seg(kc), seg(vc), slopes, scale, st, seg(out));
            } else {
                LightningRecurrent.forwardF64(shape, seg(qc), seg(kc), seg(vc), slopes, scale, st, seg(out));
            }
            return out;
        }
    }

    private static Tensor contiguous(Tensor t, DType ct) {
        Tensor c = t.dtype() == ct ? t.detach() : t.detach().to(ct);
        return c.isContiguous() ? c : c.contiguous();
    }

    private static MemorySegment seg(Tensor t) {
        MemorySegment s = t.hostSegment("lightning");
        long es = t.dtype().byteSize();
        return s.asSlice(t.offset() * es, t.numel() * es);
    }
}
