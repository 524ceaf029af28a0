package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.Kernels;
import fulgur.backend.UnaryOp;
import fulgur.tensor.Rng;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/** Activation functions, softmax and dropout. */
public final class Activations {
    private Activations() {}

    public static Tensor silu(Tensor x) {
        return Elementwise.unary(UnaryOp.SILU, x, 0);
    }

    public static Tensor sigmoid(Tensor x) {
        return Elementwise.unary(UnaryOp.SIGMOID, x, 0);
    }

    public static Tensor tanh(Tensor x) {
        return Elementwise.unary(UnaryOp.TANH, x, 0);
    }

    public static Tensor relu(Tensor x) {
        return Elementwise.unary(UnaryOp.RELU, x, 0);
    }

    /** Exact (erf) GELU. */
    public static Tensor gelu(Tensor x) {
        return Elementwise.unary(UnaryOp.GELU, x, 0);
    }

    public static Tensor geluTanh(Tensor x) {
        return Elementwise.unary(UnaryOp.GELU_TANH, x, 0);
    }

    public static Tensor softplus(Tensor x) {
        return Elementwise.unary(UnaryOp.SOFTPLUS, x, 0);
    }

    public static Tensor logSigmoid(Tensor x) {
        return Elementwise.unary(UnaryOp.LOGSIGMOID, x, 0);
    }

    public static Tensor softmax(Tensor x, int axis) {
        return softmax(x, axis, false);
    }

    public static Tensor logSoftmax(Tensor x, int axis) {
        return softmax(x, axis, true);
    }

    private static Tensor softmax(Tensor x, int axis, boolean log) {
        String op = log ? "logSoftmax" : "softmax";
        x.checkAlive(op);
        int a = Shape.axis(op, axis, x.ndim());
        int last = x.ndim() - 1;
        if (a != last) {
            return Views.transpose(softmax(Views.transpose(x, a, last), last, log), a, last);
        }
        Tensor out = Backends.of(x).softmax(x, log);
        return Autograd.record(
                op, out, new Tensor[] {x}, g -> new Tensor[] {Backends.of(x).softmaxBackward(out, g, log)});
    }

    /** Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1−p); identity when p = 0. */
    public static Tensor dropout(Tensor x, double p, Rng rng, boolean training) {
        if (p < 0 || p >= 1) {
            throw new IllegalArgumentException("dropout: probability must be in [0, 1), got " + p);
        }
        if (!training || p == 0) {
            return x;
        }
        x.checkAlive("dropout");
        fulgur.backend.Capturing.refuse("dropout (its mask comes from a host-side random counter)");
        Tensor mask;
        try (var g = GradMode.noGrad()) {
            mask = Backends.of(x).dropoutMask(x, p, rng.nextStream());
        }
        return Elementwise.mul(x, mask);
    }

    /**
     * {@code silu(gate) ⊙ up}, the activation of gated (SwiGLU) feed-forwards, as one fused op when the shapes and
     * dtypes agree (one pass over each input on backends that fuse it); otherwise the broadcasting composition.
     */
    public static Tensor siluMul(Tensor gate, Tensor up) {
        if (!gate.sameShape(up) || gate.dtype() != up.dtype()) {
            return Elementwise.mul(silu(gate), up);
        }
        Elementwise.checkSameDevice("siluMul", gate, up);
        GluKernels k = Kernels.find(GluKernels.class, gate.device());
        if (k == null) {
            Backend be = Backends.of(gate);
            Tensor out = be.binary(BinaryOp.MUL, be.unary(UnaryOp.SILU, gate, 0), up);
            return Autograd.record("siluMul", out, new Tensor[] {gate, up}, g -> siluMulBackward(gate, up, g));
        }
        Tensor out = k.siluMul(gate, up);
        return Autograd.record("siluMul", out, new Tensor[] {gate, up}, g -> k.siluMulBackward(gate, up, g));
    }

    /** {d gate, d up} of {@link #siluMul} (same shape and dtype) for dy: the device's GLU kernel, or backend ops. */
    static Tensor[] siluMulBackward(Tensor gate, Tensor up, Tensor dy) {
        GluKernels k = Kernels.find(GluKernels.class, gate.device());
        if (k != null) {
            return k.siluMulBackward(gate, up, dy);
        }
        Backend be = Backends.of(gate);
        Tensor s = be.unary(UnaryOp.SILU, gate, 0);
        return new Tensor[] {
            be.unaryBackward(UnaryOp.SILU, gate, s, be.binary(BinaryOp.MUL, dy, up), 0), be.binary(BinaryOp.MUL, dy, s)
        };
    }
}
