package fulgur.ops.lightning;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.ops.Views;
import fulgur.ops.gla.Gla;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

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
        return chunked(q, k, v, slopes, 1.0, null, false, LightningChunked.DEFAULT_BLOCK, null)
                .output();
    }

    /**
     * Chunked forward; the backward is the hand-written Lightning-2 backward. Gradients flow to q, k, v and the
     * initial state, and from the output and the final state. Runs on the device of q, k and v through its
     * {@link LightningKernels} (CPU: the Vector API kernels; CUDA: tensor cores for bf16 with head dims 64/128, an exact
     * f32 kernel otherwise); on a device without them, the composed form: gated linear attention with the constant
     * log-decay −slope per head ({@link Gla#chunked}).
     *
     * @param cuSeqlens packed variable-length sequences (batch must be 1), or null
     */
    public static Result chunked(
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
        LightningShape shape = shapeOf(op, q, k, v);
        shape.checkSlopes(op, slopes);
        LightningShape.checkScale(op, scale);
        LightningShape.checkBlockSize(op, blockSize);
        shape.checkCuSeqlens(op, cuSeqlens);
        int n = cuSeqlens == null ? shape.batch() : cuSeqlens.length - 1;
        int[] stateShape = {n, shape.heads(), shape.dk(), shape.dv()};
        if (initialState != null) {
            initialState.checkAlive(op);
            if (!java.util.Arrays.equals(initialState.shape(), stateShape)) {
                throw new IllegalArgumentException(op + ": initial state " + initialState.describe()
                        + " does not match the expected " + Shape.str(stateShape));
            }
            if (!initialState.device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": initial state " + initialState.describe() + " is not on " + q.device() + " with q");
            }
        }
        long outNumel = shape.voElements();
        long stateNumel = Shape.numel(stateShape);
        LightningKernels be = Kernels.find(LightningKernels.class, q.device());
        if (be == null) {
            Gla.Result r = Gla.chunked(
                    q,
                    k,
                    v,
                    logDecay(slopes, q, shape),
                    scale,
                    initialState,
                    wantFinalState,
                    Gla.DEFAULT_CHUNK,
                    cuSeqlens);
            return new Result(r.output(), r.finalState());
        }
        Tensor packed = be.forward(q, k, v, slopes, scale, initialState, wantFinalState, blockSize, cuSeqlens);
        // Output and final state share one buffer, so the pair is a single node of the graph.
        Tensor[] inputs = {q, k, v, initialState};
        Tensor node = Autograd.record(op, packed, inputs, g -> {
            Tensor[] d = be.backward(q, k, v, slopes, scale, initialState, wantFinalState, blockSize, cuSeqlens, g);
            return new Tensor[] {
                back(d[0], q),
                back(d[1], k),
                back(d[2], v),
                d[3] == null || initialState == null ? null : back(d[3], initialState)
            };
        });
        int[] outShape = {shape.batch(), shape.seqLen(), shape.heads(), shape.dv()};
        Tensor o = wantFinalState
                ? Views.reshape(Views.narrow(node, 0, 0, Shape.toInt(op, outNumel)), outShape)
                : Views.reshape(node, outShape);
        if (o.dtype() != q.dtype()) {
            o = o.to(q.dtype());
        }
        Tensor fs = wantFinalState
                ? Views.reshape(
                        Views.narrow(node, 0, Shape.toInt(op, outNumel), Shape.toInt(op, stateNumel)), stateShape)
                : null;
        return new Result(o, fs);
    }

    /**
     * Decoding: consumes the T tokens of q, k, v [B, T, H, D] one after another, advancing {@code state}
     * [B, H, dk, dv] (f32, updated in place) and returning the outputs. No gradients.
     */
    public static Tensor recurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
        String op = "lightning.recurrent";
        LightningShape shape = shapeOf(op, q, k, v);
        shape.checkSlopes(op, slopes);
        LightningShape.checkScale(op, scale);
        int[] stateShape = {shape.batch(), shape.heads(), shape.dk(), shape.dv()};
        state.checkAlive(op);
        if (!java.util.Arrays.equals(state.shape(), stateShape) || !state.isContiguous()) {
            throw new IllegalArgumentException(
                    op + ": state " + state.describe() + " must be a contiguous " + Shape.str(stateShape));
        }
        DType ct = state.dtype();
        if (ct != DType.F32 && ct != DType.F64) {
            throw new IllegalArgumentException(op + ": state must be f32 or f64, got " + state.describe());
        }
        if (!state.device().equals(q.device())) {
            throw new IllegalArgumentException(
                    op + ": state " + state.describe() + " is not on " + q.device() + " with q");
        }
        try (var g = GradMode.noGrad()) {
            LightningKernels be = Kernels.find(LightningKernels.class, q.device());
            if (be == null) {
                return Gla.decode(q, k, v, logDecay(slopes, q, shape), scale, state);
            }
            Tensor out = be.recurrent(q, k, v, slopes, scale, state);
            return q.dtype() == out.dtype() ? out : out.to(q.dtype());
        }
    }

    /** The log-decay −slope_h of every channel, as GLA's g: a [B, T, H, dk] view of one [H] tensor (compute dtype). */
    static Tensor logDecay(double[] slopes, Tensor q, LightningShape shape) {
        double[] g = new double[slopes.length];
        for (int h = 0; h < g.length; h++) {
            g[h] = -slopes[h];
        }
        DType ct = q.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor t = Tensor.of(ct, g, 1, 1, g.length, 1);
        if (!t.device().equals(q.device())) {
            t = t.to(q.device());
        }
        return Views.expand(t, shape.batch(), shape.seqLen(), shape.heads(), shape.dk());
    }

    static LightningShape shapeOf(String op, Tensor q, Tensor k, Tensor v) {
        for (Tensor t : new Tensor[] {q, k, v}) {
            t.checkAlive(op);
            if (t.ndim() != 4) {
                throw new IllegalArgumentException(op + ": expected [B, T, H, D] tensors, got " + t.describe());
            }
            if (!t.device().equals(q.device())) {
                throw new IllegalArgumentException(
                        op + ": q " + q.describe() + " and " + t.describe() + " are on different devices");
            }
        }
        int b = q.size(0);
        int t = q.size(1);
        int h = q.size(2);
        if (k.size(0) != b
                || k.size(1) != t
                || k.size(2) != h
                || k.size(3) != q.size(3)
                || v.size(0) != b
                || v.size(1) != t
                || v.size(2) != h) {
            throw new IllegalArgumentException(op + ": q " + Shape.str(q.shape()) + ", k " + Shape.str(k.shape())
                    + ", v " + Shape.str(v.shape()) + " do not agree (expected q, k [B,T,H,dk] and v [B,T,H,dv])");
        }
        return new LightningShape(b, t, h, q.size(3), v.size(3));
    }

    private static Tensor back(Tensor grad, Tensor like) {
        return grad.dtype() == like.dtype() ? grad : grad.to(like.dtype());
    }
}
