package fulgur.ops.conv;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.backend.Kernels;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Views;
import fulgur.tensor.Tensor;

/**
 * The short causal depthwise convolution over time, as torch's {@code Conv1d(D, D, K, groups=D, padding=K−1)} truncated
 * to the input length: y_t = act(Σ_j w[:, j] ⊙ x_{t−(K−1)+j} + bias) with x {@code [B, T, D]} and weight
 * {@code [D, K]}. The K − 1 positions before the input come from a tail (the previous inputs when decoding, zeros
 * otherwise). Runs the device's {@link ShortConvKernels} where it has them, the composition of K shifted products
 * otherwise; gradients flow to x, weight, bias and tail.
 */
public final class ShortConvolution {
    private ShortConvolution() {}

    /** Output [B, T, D] and the new tail: the last K − 1 inputs [B, K−1, D] (null for K = 1). */
    public record Result(Tensor output, Tensor tail) {}

    /** x [B, T, D], weight [D, K], bias [D] or null, tail [B, K−1, D] or null (zeros); SiLU on the result when asked. */
    public static Result apply(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu) {
        int kernel = check("shortConv", x, weight, bias, tail);
        ShortConvKernels kn = Kernels.find(ShortConvKernels.class, x.device());
        if (kn != null && kn.supports(x, weight)) {
            Tensor y = kn.forward(x, weight, bias, tail, silu);
            Tensor node = Autograd.record(
                    "shortConv",
                    y,
                    new Tensor[] {x, weight, bias, tail},
                    g -> kn.backward(x, weight, bias, tail, silu, g));
            return new Result(node, newTail(x, tail, kernel));
        }
        int b = x.size(0), t = x.size(1), d = x.size(2);
        Tensor before = kernel == 1
                ? null
                : tail != null ? tail.to(x.dtype()) : Tensor.zeros(x.dtype(), x.device(), b, kernel - 1, d);
        Tensor xp = kernel == 1 ? x : Views.concat(1, before, x);
        Tensor y = null;
        for (int j = 0; j < kernel; j++) {
            Tensor term = Elementwise.mul(Views.narrow(xp, 1, j, t), Views.select(weight, 1, j));
            y = y == null ? term : Elementwise.add(y, term);
        }
        if (bias != null) {
            y = Elementwise.add(y, bias);
        }
        return new Result(silu ? Activations.silu(y) : y, kernel > 1 ? Views.narrow(xp, 1, t, kernel - 1) : null);
    }

    /** The last K − 1 inputs: a view of x when it has that many, else the end of the tail (or zeros) followed by x. */
    private static Tensor newTail(Tensor x, Tensor tail, int kernel) {
        if (kernel == 1) {
            return null;
        }
        int t = x.size(1);
        if (t >= kernel - 1) {
            return Views.narrow(x, 1, t - (kernel - 1), kernel - 1);
        }
        Tensor before = tail != null
                ? tail.to(x.dtype())
                : Tensor.zeros(x.dtype(), x.device(), x.size(0), kernel - 1, x.size(2));
        return Views.narrow(Views.concat(1, before, x), 1, t, kernel - 1);
    }

    /**
     * Decoding: the outputs for the T new positions of x, advancing {@code tail} [B, K−1, D] (contiguous) in place to the
     * last K − 1 inputs. No gradients.
     */
    public static Tensor decode(Tensor x, Tensor weight, Tensor bias, Tensor tail, boolean silu) {
        int kernel = check("shortConv.decode", x, weight, bias, tail);
        if (kernel > 1 && (tail == null || !tail.isContiguous())) {
            throw new IllegalArgumentException("shortConv.decode: needs a contiguous tail [B, " + (kernel - 1)
                    + ", D] to advance, got " + (tail == null ? "null" : tail.describe()));
        }
        try (var g = GradMode.noGrad()) {
            ShortConvKernels kn = Kernels.find(ShortConvKernels.class, x.device());
            if (kn != null && kn.supports(x, weight)) {
                return kn.decode(x, weight, bias, tail, silu);
            }
            Result r = apply(x, weight, bias, tail, silu);
            if (kernel > 1) {
                tail.copyFrom(r.tail());
            }
            return r.output();
        }
    }

    /** Checks the arguments; returns K. */
    private static int check(String op, Tensor x, Tensor weight, Tensor bias, Tensor tail) {
        x.checkAlive(op);
        weight.checkAlive(op);
        if (x.ndim() != 3 || !x.dtype().isFloating()) {
            throw new IllegalArgumentException(op + ": x must be a floating [B, T, D] tensor, got " + x.describe());
        }
        int d = x.size(2);
        if (weight.ndim() != 2 || weight.size(0) != d || weight.size(1) < 1) {
            throw new IllegalArgumentException(op + ": weight must be [D=" + d + ", K], got " + weight.describe());
        }
        int kernel = weight.size(1);
        if (bias != null && (bias.ndim() != 1 || bias.size(0) != d)) {
            throw new IllegalArgumentException(op + ": bias must be [" + d + "], got " + bias.describe());
        }
        if (tail != null
                && (tail.ndim() != 3 || tail.size(0) != x.size(0) || tail.size(1) != kernel - 1 || tail.size(2) != d)) {
            throw new IllegalArgumentException(
                    op + ": tail must be [" + x.size(0) + ", " + (kernel - 1) + ", " + d + "], got " + tail.describe());
        }
        for (Tensor t : new Tensor[] {weight, bias, tail}) {
            if (t != null && !t.device().equals(x.device())) {
                throw new IllegalArgumentException(op + ": " + t.describe() + " is not on " + x.device() + " with x");
            }
        }
        return kernel;
    }
}
