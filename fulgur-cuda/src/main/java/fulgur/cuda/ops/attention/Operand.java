package fulgur.cuda.ops.attention;

import fulgur.cuda.DevicePointer;
import fulgur.cuda.ops.LaunchContext;
import fulgur.tensor.Tensor;

/**
 * A [B, T, H, D] bf16 operand as the kernels read it: its address and batch, token and head strides (elements). The
 * kernels need the head dim contiguous and 16-byte aligned rows; a view that is not (odd strides or offset) is
 * copied to a contiguous tensor first, which {@link #close} frees.
 */
record Operand(Tensor original, Tensor tensor, DevicePointer ptr, long sb, long st, long sh) implements AutoCloseable {

    static Operand of(LaunchContext lc, String op, Tensor t) {
        Tensor use = aligned(t) ? t : lc.contiguous(t);
        return new Operand(t, use, lc.ptr(use, op), use.stride(0), use.stride(1), use.stride(2));
    }

    /** Head dim contiguous, every other stride and the offset a multiple of 8 elements (16 bytes of bf16). */
    static boolean aligned(Tensor t) {
        if (t.stride(3) != 1 || t.offset() % 8 != 0) return false;
        for (int i = 0; i < 3; i++) if (t.size(i) > 1 && t.stride(i) % 8 != 0) return false;
        return true;
    }

    @Override
    public void close() {
        LaunchContext.release(tensor, original);
    }
}
