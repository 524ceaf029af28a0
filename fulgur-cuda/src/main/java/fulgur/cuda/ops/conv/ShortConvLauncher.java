package fulgur.cuda.ops.conv;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.SequenceTables;
import fulgur.cuda.ops.Sequences;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.Map;

/**
 * Short causal depthwise convolution (fla's {@code ShortConvolution}, MetaLA's short conv) on the GPU:
 * <pre>
 *   y_t = act(bias + sum_{w &lt; W} weight[:, w] * x_{t-W+1+w})      act = identity or SiLU
 * </pre>
 * x [B, T, D] (or packed [1, NTOK, D] with {@code cuSeqlens}), weight [D, W] (torch's [D, 1, W] works too), bias [D]
 * or null. The W-1 inputs before each sequence come from its tail [N, W-1, D] (fulgur's layout: the previous inputs
 * in time order; null = zeros), and the final tail holds the last W-1 inputs, so decoding a token at a time is
 * {@code forward} with T = 1 and the previous tail. Kernel sizes 1..8; x f32 or bf16, weight/bias f32 or bf16;
 * arithmetic in f32 ({@code conv.cu}).
 */
public final class ShortConvLauncher {
    public static final int MAX_KERNEL = 8;
    private static final int TOKENS_PER_CTA = 64, THREADS = 128;

    private final DeviceTensors dt;
    private final SequenceTables tables;

    public ShortConvLauncher(DeviceTensors dt) {
        this.dt = dt;
        this.tables = new SequenceTables(dt);
    }

    public static ShortConvLauncher of(CudaBackend backend) {
        return new ShortConvLauncher(DeviceTensors.of(backend));
    }

    public record Output(Tensor y, Tensor finalTail) {}

    public record Gradients(Tensor dx, Tensor dWeight, Tensor dBias, Tensor dInitialTail) {}

    /** Checks shapes and dtypes (no device access); returns {N, D, W} and the sequence starts. */
    public static int[][] validate(String op, Tensor x, Tensor weight, Tensor bias, Tensor tail0, int[] cuSeqlens) {
        if (x == null || weight == null) throw new IllegalArgumentException(op + ": x and weight must not be null");
        if (x.ndim() != 3) throw new IllegalArgumentException(op + ": x must be [B, T, D], got " + x.describe());
        int d = x.size(2);
        int w = weight.size(weight.ndim() - 1);
        boolean shapeOk = (weight.ndim() == 2 && weight.size(0) == d)
                || (weight.ndim() == 3 && weight.size(0) == d && weight.size(1) == 1);
        if (!shapeOk)
            throw new IllegalArgumentException(
                    op + ": weight must be [D, W] or [D, 1, W] with D = " + d + ", got " + weight.describe());
        if (w < 1 || w > MAX_KERNEL)
            throw new IllegalArgumentException(op + ": kernel size W=" + w + " must be in 1.." + MAX_KERNEL);
        if (x.dtype() != DType.F32 && x.dtype() != DType.BF16)
            throw new IllegalArgumentException(op + ": x must be f32 or bf16, got " + x.describe());
        if (weight.dtype() != DType.F32 && weight.dtype() != DType.BF16) {
            throw new IllegalArgumentException(op + ": weight must be f32 or bf16, got " + weight.describe());
        }
        if (bias != null && (!Arrays.equals(bias.shape(), new int[] {d}) || bias.dtype() != weight.dtype())) {
            throw new IllegalArgumentException(op + ": bias must be [" + d + "] in the weight's dtype " + weight.dtype()
                    + ", got " + bias.describe());
        }
        if (x.size(0) < 1 || x.size(1) < 1 || d < 1)
            throw new IllegalArgumentException(op + ": empty input " + x.describe());
        int[] cu = Sequences.starts(op, x.size(0), x.size(1), cuSeqlens);
        int n = cu.length - 1;
        if (tail0 != null && (!Arrays.equals(tail0.shape(), new int[] {n, w - 1, d}) || tail0.dtype() != x.dtype())) {
            throw new IllegalArgumentException(op + ": the tail must be " + x.dtype() + " [" + n + ", " + (w - 1) + ", "
                    + d + "] [N, W-1, D], got " + tail0.describe());
        }
        return new int[][] {{n, d, w}, cu};
    }

    private Kernel kernel(String name) {
        return dt.context().module("conv.cu", Map.of()).kernel(name);
    }

    public Output forward(
            Tensor x, Tensor weight, Tensor bias, boolean silu, Tensor tail0, boolean wantTail, int[] cuSeqlens) {
        String op = "short_conv.forward";
        int[][] v = validate(op, x, weight, bias, tail0, cuSeqlens);
        int n = v[0][0], d = v[0][1], w = v[0][2];
        for (Tensor t : new Tensor[] {x, weight, bias, tail0}) dt.requireDense(op, "x, weight, bias and tail", t);
        dt.context().bind();
        Sequences sq = Sequences.of(v[1], TOKENS_PER_CTA);
        DevicePointer[] tb = tables.of(sq);
        Tensor y = dt.alloc(x.dtype(), x.shape());
        int xf = x.dtype() == DType.F32 ? 1 : 0, wf = weight.dtype() == DType.F32 ? 1 : 0;
        kernel("conv_fwd")
                .launch(
                        dt.stream(),
                        (d + THREADS - 1) / THREADS,
                        sq.segments(),
                        1,
                        THREADS,
                        0,
                        dt.ptr(x, op),
                        xf,
                        dt.ptr(weight, op),
                        dt.ptr(bias, op),
                        wf,
                        dt.ptr(tail0, op),
                        dt.ptr(y, op),
                        silu ? 1 : 0,
                        tb[1],
                        tb[0],
                        d,
                        w);
        Tensor tail = null;
        if (wantTail && w > 1) {
            tail = dt.alloc(x.dtype(), n, w - 1, d);
            kernel("conv_tail")
                    .launch(
                            dt.stream(),
                            (d + THREADS - 1) / THREADS,
                            n,
                            1,
                            THREADS,
                            0,
                            dt.ptr(x, op),
                            xf,
                            dt.ptr(tail0, op),
                            dt.ptr(tail, op),
                            tb[0],
                            d,
                            w);
        }
        return new Output(y, tail);
    }

    /**
     * Decoding: y for the T new tokens of x [B, T, D] from the previous inputs in {@code tail} [B, W-1, D], which is then
     * advanced in place to the last W-1 inputs.
     */
    public Tensor step(Tensor x, Tensor weight, Tensor bias, boolean silu, Tensor tail) {
        String op = "short_conv.step";
        if (tail == null)
            throw new IllegalArgumentException(op + ": the tail must not be null (decoding advances it in place)");
        int[][] v = validate(op, x, weight, bias, tail, null);
        int n = v[0][0], d = v[0][1], w = v[0][2];
        for (Tensor t : new Tensor[] {x, weight, bias, tail}) dt.requireDense(op, "x, weight, bias and tail", t);
        dt.context().bind();
        Sequences sq = Sequences.of(v[1], TOKENS_PER_CTA);
        DevicePointer[] tb = tables.of(sq);
        Tensor y = dt.alloc(x.dtype(), x.shape());
        int xf = x.dtype() == DType.F32 ? 1 : 0, wf = weight.dtype() == DType.F32 ? 1 : 0;
        kernel("conv_fwd")
                .launch(
                        dt.stream(),
                        (d + THREADS - 1) / THREADS,
                        sq.segments(),
                        1,
                        THREADS,
                        0,
                        dt.ptr(x, op),
                        xf,
                        dt.ptr(weight, op),
                        dt.ptr(bias, op),
                        wf,
                        dt.ptr(tail, op),
                        dt.ptr(y, op),
                        silu ? 1 : 0,
                        tb[1],
                        tb[0],
                        d,
                        w);
        if (w > 1) {
            kernel("conv_tail")
                    .launch(
                            dt.stream(),
                            (d + THREADS - 1) / THREADS,
                            n,
                            1,
                            THREADS,
                            0,
                            dt.ptr(x, op),
                            xf,
                            dt.ptr(tail, op),
                            dt.ptr(tail, op),
                            tb[0],
                            d,
                            w);
        }
        return y;
    }

    /** Gradients from dy [B, T, D] (x's dtype) and, when not null, the final tail's gradient [N, W-1, D]. */
    public Gradients backward(
            Tensor x,
            Tensor weight,
            Tensor bias,
            boolean silu,
            Tensor tail0,
            int[] cuSeqlens,
            Tensor dy,
            Tensor dTail) {
        String op = "short_conv.backward";
        int[][] v = validate(op, x, weight, bias, tail0, cuSeqlens);
        int n = v[0][0], d = v[0][1], w = v[0][2];
        if (dy == null || !Arrays.equals(dy.shape(), x.shape()) || dy.dtype() != x.dtype()) {
            throw new IllegalArgumentException(op + ": dy must be " + x.dtype() + " " + Arrays.toString(x.shape())
                    + ", got " + (dy == null ? "null" : dy.describe()));
        }
        if (dTail != null && (!Arrays.equals(dTail.shape(), new int[] {n, w - 1, d}) || dTail.dtype() != x.dtype())) {
            throw new IllegalArgumentException(op + ": the tail gradient must be " + x.dtype() + " [" + n + ", "
                    + (w - 1) + ", " + d + "], got " + dTail.describe());
        }
        for (Tensor t : new Tensor[] {x, weight, bias, tail0, dy, dTail}) dt.requireDense(op, "inputs", t);
        dt.context().bind();
        Sequences sq = Sequences.of(v[1], TOKENS_PER_CTA);
        DevicePointer[] tb = tables.of(sq);
        Tensor dx = dt.alloc(x.dtype(), x.shape());
        Tensor dTail0 = tail0 == null ? null : dt.alloc(x.dtype(), tail0.shape());
        Tensor dW = dt.alloc(weight.dtype(), weight.shape());
        Tensor dB = bias == null ? null : dt.alloc(bias.dtype(), bias.shape());
        int xf = x.dtype() == DType.F32 ? 1 : 0, wf = weight.dtype() == DType.F32 ? 1 : 0;
        long accBytes = 4L * d * (w + 1);
        try (DeviceBuffer acc = dt.scratch(accBytes)) {
            dt.zero(acc, accBytes);
            DevicePointer dbAcc = acc.plus(4L * d * w);
            kernel("conv_bwd")
                    .launch(
                            dt.stream(),
                            (d + THREADS - 1) / THREADS,
                            sq.segments(),
                            1,
                            THREADS,
                            0,
                            dt.ptr(x, op),
                            xf,
                            dt.ptr(weight, op),
                            dt.ptr(bias, op),
                            wf,
                            dt.ptr(tail0, op),
                            dt.ptr(dy, op),
                            dt.ptr(dTail, op),
                            silu ? 1 : 0,
                            dt.ptr(dx, op),
                            dt.ptr(dTail0, op),
                            acc,
                            dbAcc,
                            tb[1],
                            tb[0],
                            d,
                            w);
            kernel("conv_cast")
                    .launch(
                            dt.stream(),
                            Math.max(1, (d * w + 255) / 256),
                            1,
                            1,
                            256,
                            0,
                            acc,
                            dt.ptr(dW, op),
                            wf,
                            (long) d * w);
            if (dB != null)
                kernel("conv_cast")
                        .launch(
                                dt.stream(),
                                Math.max(1, (d + 255) / 256),
                                1,
                                1,
                                256,
                                0,
                                dbAcc,
                                dt.ptr(dB, op),
                                wf,
                                (long) d);
        }
        return new Gradients(dx, dW, dB, dTail0);
    }
}
