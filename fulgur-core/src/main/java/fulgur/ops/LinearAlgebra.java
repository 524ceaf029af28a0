package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.autograd.PartialGrads;
import fulgur.backend.Backends;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;

/** Matrix products with broadcast batch dimensions, and the linear layer's affine map. */
public final class LinearAlgebra {
    private LinearAlgebra() {}

    /**
     * a [..., M, K] · b [..., K, N] → [..., M, N]; 1-D operands are treated as a row / column vector whose added
     * dimension is removed from the result (two 1-D operands give a scalar).
     */
    public static Tensor matmul(Tensor a, Tensor b) {
        Elementwise.checkSameDevice("matmul", a, b);
        if (a.ndim() == 1 && b.ndim() == 1) {
            return Views.reshape(matmul(Views.unsqueeze(a, 0), Views.unsqueeze(b, 1), false, false));
        }
        if (a.ndim() == 1) {
            return Views.squeeze(matmul(Views.unsqueeze(a, 0), b), -2);
        }
        if (b.ndim() == 1) {
            return Views.squeeze(matmul(a, Views.unsqueeze(b, 1)), -1);
        }
        return matmul(a, b, false, false);
    }

    /** op(a)·op(b) where op transposes the last two dimensions when the flag is set. */
    public static Tensor matmul(Tensor a, Tensor b, boolean transA, boolean transB) {
        Elementwise.checkSameDevice("matmul", a, b);
        Tensor out = Backends.of(a).matmul(a, b, transA, transB, null);
        int[] sa = a.shape();
        int[] sb = b.shape();
        return Autograd.record("matmul", out, new Tensor[] {a, b}, g -> {
            Tensor ga = null;
            Tensor gb = null;
            if (a.requiresGrad()) {
                // C = op(A)·op(B): dop(A) = G·op(B)ᵀ; dA = transA ? (G·op(B)ᵀ)ᵀ = op(B)·Gᵀ : G·op(B)ᵀ
                Tensor d = transA
                        ? Backends.of(a).matmul(b, g, transB, true, gradType(a))
                        : Backends.of(a).matmul(g, b, false, !transB, gradType(a));
                ga = Reductions.sumTo(d, sa);
            }
            if (b.requiresGrad()) {
                // dop(B) = op(A)ᵀ·G; dB = transB ? Gᵀ·op(A) : op(A)ᵀ·G
                Tensor d = transB
                        ? Backends.of(a).matmul(g, a, true, transA, gradType(b))
                        : Backends.of(a).matmul(a, g, !transA, false, gradType(b));
                gb = Reductions.sumTo(d, sb);
            }
            return new Tensor[] {ga, gb};
        });
    }

    /**
     * The dtype of an operand's gradient product: a 16-bit leaf (a weight) gets its gradient in its compute type, f32,
     * straight from the product's accumulator, as the engine keeps leaf gradients (no rounding to 16 bits and no
     * conversion pass after); anything else its own dtype.
     */
    private static DType gradType(Tensor operand) {
        DType dt = operand.dtype();
        return operand.gradFn() == null && (dt == DType.BF16 || dt == DType.F16) ? dt.computeType() : dt;
    }

    /**
     * x [..., in] · (diag(scale)·q)ᵀ + bias with int8 weights q [out, in] and per-output-channel scales [out]: the
     * linear layer of a weight-only quantized model. Computes in f32 and returns x's dtype. Inference only: a backward
     * through it fails (quantized weights are not trained).
     */
    public static Tensor linearInt8(Tensor x, Tensor q, Tensor scale, Tensor bias) {
        String op = "linearInt8";
        if (q.ndim() != 2 || q.dtype() != DType.I8 || x.size(-1) != q.size(1)) {
            throw new IllegalArgumentException(op + ": input " + x.describe() + " does not match int8 weight "
                    + q.describe() + " (expected [..., " + q.size(-1) + "])");
        }
        if (scale.ndim() != 1 || scale.size(0) != q.size(0)) {
            throw new IllegalArgumentException(
                    op + ": scale " + scale.describe() + " must hold one value per output channel of " + q.describe());
        }
        Elementwise.checkSameDevice(op, x, q);
        Elementwise.checkSameDevice(op, x, scale);
        int[] s = x.shape();
        Tensor x2 = Views.reshape(x, -1, q.size(1));
        Tensor xf = x2.dtype() == DType.F32 && x2.isContiguous()
                ? x2.detach()
                : x2.detach().to(DType.F32).contiguous();
        Tensor sf = scale.dtype() == DType.F32 && scale.isContiguous()
                ? scale.detach()
                : scale.detach().to(DType.F32).contiguous();
        Tensor y = Int8Matmul.apply(xf, q.isContiguous() ? q : q.contiguous(), sf);
        if (x.dtype() != DType.F32) {
            y = y.to(x.dtype());
        }
        y = Autograd.record(op, y, new Tensor[] {x}, g -> {
            throw new UnsupportedOperationException(
                    op + ": int8 weights serve inference only; train from the unquantized checkpoint");
        });
        if (bias != null) {
            y = Elementwise.add(y, bias);
        }
        s[s.length - 1] = q.size(0);
        return Views.reshape(y, s);
    }

    /**
     * silu(gate) ⊙ up (both [..., in]) times wᵀ (w [out, in]): the down projection of a SwiGLU feed-forward with the
     * product recomputed in the backward instead of kept between them (fla's SwiGLULinear), so a training step stores
     * one [..., in] activation less per layer. Values and gradients are those of
     * {@code linear(Activations.siluMul(gate, up), w, null)}.
     */
    public static Tensor siluMulLinear(Tensor gate, Tensor up, Tensor w) {
        if (w.ndim() != 2 || gate.size(-1) != w.size(1) || !gate.sameShape(up) || gate.dtype() != up.dtype()) {
            return linear(Activations.siluMul(gate, up), w, null);
        }
        Elementwise.checkSameDevice("siluMulLinear", gate, w);
        int[] s = gate.shape();
        s[s.length - 1] = w.size(0);
        Tensor y;
        try (var ng = fulgur.autograd.GradMode.noGrad()) {
            Tensor h = Activations.siluMul(gate, up);
            y = Backends.of(w).matmul(Views.reshape(h, -1, w.size(1)), w, false, true, null);
            h.close();
        }
        int[] gs = gate.shape();
        Tensor out = Autograd.record("siluMulLinear", y, new Tensor[] {gate, up, w}, g -> {
            Tensor g2 = Views.reshape(g, -1, w.size(0));
            Tensor h = Activations.siluMul(gate, up);
            Tensor h2 = Views.reshape(h, -1, w.size(1));
            Tensor dw = w.requiresGrad() ? Backends.of(w).matmul(g2, h2, true, false, gradType(w)) : null;
            Tensor dh = Backends.of(w).matmul(g2, w, false, false, gate.dtype());
            h.close();
            Tensor[] d = Activations.siluMulBackward(gate, up, Views.reshape(dh, gs));
            dh.close();
            return new Tensor[] {d[0], d[1], dw};
        });
        return Views.reshape(out, s);
    }

    /** x [..., in] · wᵀ (w [out, in], as torch.nn.Linear stores it) + bias [out]. */
    public static Tensor linear(Tensor x, Tensor w, Tensor bias) {
        if (w.ndim() != 2 || x.size(-1) != w.size(1)) {
            throw new IllegalArgumentException("linear: input " + x.describe() + " does not match weight "
                    + w.describe() + " (expected [..., " + (w.ndim() == 2 ? w.size(1) : "?") + "])");
        }
        Elementwise.checkSameDevice("linear", x, w);
        int in = w.size(1);
        int out = w.size(0);
        int[] s = x.shape();
        s[s.length - 1] = out;
        Tensor y;
        try (var ng = fulgur.autograd.GradMode.noGrad()) {
            y = Views.reshape(Backends.of(w).matmul(Views.reshape(x, -1, in), w, false, true, null), s);
        }
        // one node on x itself (not on a reshaped view of it), so that its backward can fold x's gradient summed so
        // far (a second linear map of the same input: SGLU's, attention's q/k/v) into the product it writes
        y = Autograd.record("linear", y, new Tensor[] {x, w}, (g, partial) -> {
            Tensor g2 = Views.reshape(g, -1, out);
            Tensor dw = w.requiresGrad()
                    ? Backends.of(w).matmul(g2, Views.reshape(x, -1, in), true, false, gradType(w))
                    : null;
            Tensor dx = null;
            if (x.requiresGrad()) {
                dx = foldedInputGradient(partial, x, g2, w);
                if (dx == null) {
                    dx = Views.reshape(Backends.of(w).matmul(g2, w, false, false, gradType(x)), x.shape());
                }
            }
            return new Tensor[] {dx, dw};
        });
        return bias == null ? y : Elementwise.add(y, bias);
    }

    /**
     * g2·w plus x's gradient summed so far, in one product where the device has {@link MatmulIntoKernels} that take
     * them (the partial sum then claimed); null otherwise.
     */
    private static Tensor foldedInputGradient(PartialGrads partial, Tensor x, Tensor g2, Tensor w) {
        Tensor p = partial.peek(0);
        if (p == null || p.dtype() != gradType(x)) {
            return null;
        }
        MatmulIntoKernels k = fulgur.backend.Kernels.find(MatmulIntoKernels.class, x.device());
        Tensor sum = k == null ? null : k.matmulPlus(g2, w, false, false, Views.reshape(p, -1, w.size(1)));
        if (sum == null) {
            return null;
        }
        partial.take(0);
        return Views.reshape(sum, x.shape());
    }
}
