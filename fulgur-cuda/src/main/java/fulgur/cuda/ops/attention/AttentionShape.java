package fulgur.cuda.ops.attention;

import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * Sizes of one softmax-attention call on the CUDA kernels, checked from the tensors' metadata (no device access):
 * q {@code [B, Tq, H, D]}, k and v {@code [B, Tk, Hkv, D]}, bf16, H a multiple of Hkv, D one of the compiled head
 * dims.
 */
public record AttentionShape(int batch, int tq, int tk, int heads, int kvHeads, int headDim) {
    /** Head dims the forward and decode kernels are compiled for. */
    public static final int[] HEAD_DIMS = {32, 64, 96, 128, 256};
    /** Head dims the backward kernel is compiled for (256 needs more registers than a warp owning 16 keys has). */
    public static final int[] BACKWARD_HEAD_DIMS = {32, 64, 96, 128};

    /** Query heads per key/value head. */
    public int group() {
        return heads / kvHeads;
    }

    static String dims(int[] ds) {
        return Arrays.stream(ds).mapToObj(Integer::toString).collect(Collectors.joining(", "));
    }

    static boolean contains(int[] ds, int d) {
        for (int x : ds) if (x == d) return true;
        return false;
    }

    /** Checks q, k, v (and that D is in {@code dims}); {@code op} names the call in messages. */
    public static AttentionShape of(String op, Tensor q, Tensor k, Tensor v, int[] dims) {
        for (Tensor t : new Tensor[] {q, k, v}) {
            if (t == null) throw new IllegalArgumentException(op + ": q, k and v must not be null");
            if (t.ndim() != 4)
                throw new IllegalArgumentException(op + ": expected [B, T, H, D] tensors, got " + t.describe());
            if (t.dtype() != DType.BF16)
                throw new IllegalArgumentException(op + ": expected bf16 tensors, got " + t.describe());
        }
        int b = q.size(0), tq = q.size(1), h = q.size(2), d = q.size(3);
        int tk = k.size(1), hk = k.size(2);
        if (k.size(0) != b
                || v.size(0) != b
                || v.size(1) != tk
                || v.size(2) != hk
                || k.size(3) != d
                || v.size(3) != d) {
            throw new IllegalArgumentException(op + ": q " + Shape.str(q.shape()) + ", k " + Shape.str(k.shape())
                    + ", v " + Shape.str(v.shape()) + " do not agree (expected q [B,Tq,H,D], k and v [B,Tk,Hkv,D])");
        }
        if (b < 1 || h < 1 || hk < 1)
            throw new IllegalArgumentException(op + ": batch and head counts must be >= 1, got q "
                    + Shape.str(q.shape()) + ", k " + Shape.str(k.shape()));
        if (h % hk != 0)
            throw new IllegalArgumentException(
                    op + ": " + h + " query heads are not a multiple of " + hk + " key/value heads");
        if (!contains(dims, d)) {
            throw new IllegalArgumentException(
                    op + ": head dim " + d + " is not supported; the CUDA kernels take head dims " + dims(dims));
        }
        if (b > 65535 || h > 65535)
            throw new IllegalArgumentException(op + ": batch and heads must be <= 65535, got B=" + b + " H=" + h);
        return new AttentionShape(b, tq, tk, h, hk, d);
    }

    static void checkScale(String op, double scale) {
        if (!(scale > 0) || Double.isInfinite(scale)) {
            throw new IllegalArgumentException(op + ": scale must be finite and > 0, got " + scale);
        }
    }

    /** Checks that {@code t} has exactly {@code shape} and {@code dtype}. */
    static void expect(String op, String what, Tensor t, DType dtype, int... shape) {
        if (t == null) throw new IllegalArgumentException(op + ": " + what + " must not be null");
        if (t.dtype() != dtype || !Arrays.equals(t.shape(), shape)) {
            throw new IllegalArgumentException(
                    op + ": " + what + " must be " + dtype + Shape.str(shape) + ", got " + t.describe());
        }
    }
}
