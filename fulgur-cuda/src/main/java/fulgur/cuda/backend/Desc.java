package fulgur.cuda.backend;

import fulgur.cuda.KernelStruct;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The {@code ShapeDesc} kernel argument (tensor_common.cuh): sizes of an iteration space and the element strides of
 * up to three operands over it. {@link #of} merges adjacent dimensions that are contiguous for every operand and
 * drops size-1 dimensions, so most layouts become one or two dimensions; the row-major order of the iteration space
 * is kept (kernels may index a contiguous output by the flat position).
 */
public final class Desc {
    public static final int MAXD = 12;
    public static final int MAXOPS = 3;
    static final int BYTES = 8 + 8 * MAXD + 8 * MAXOPS * MAXD;

    private final long[] sizes;
    private final long[][] strides;

    private Desc(long[] sizes, long[][] strides) {
        this.sizes = sizes;
        this.strides = strides;
    }

    public int ndim() {
        return sizes.length;
    }

    public long size(int i) {
        return sizes[i];
    }

    public long stride(int operand, int i) {
        return strides[operand][i];
    }

    /** The merged iteration space of {@code shape} with one stride vector per operand. */
    public static Desc of(String op, int[] shape, long[]... operandStrides) {
        int n = shape.length;
        int ops = operandStrides.length;
        if (ops > MAXOPS) throw new IllegalArgumentException(op + ": at most " + MAXOPS + " strided operands");
        long[] dims = new long[Math.max(1, n)];
        long[][] st = new long[ops][Math.max(1, n)];
        int k = 0;
        for (int i = 0; i < n; i++) {
            if (shape[i] == 1) continue;
            if (k > 0) {
                boolean merge = true;
                for (int o = 0; o < ops; o++) {
                    if (st[o][k - 1] != operandStrides[o][i] * shape[i]) {
                        merge = false;
                        break;
                    }
                }
                if (merge) {
                    dims[k - 1] *= shape[i];
                    for (int o = 0; o < ops; o++) st[o][k - 1] = operandStrides[o][i];
                    continue;
                }
            }
            dims[k] = shape[i];
            for (int o = 0; o < ops; o++) st[o][k] = operandStrides[o][i];
            k++;
        }
        if (k == 0) {
            dims[0] = 1;
            for (int o = 0; o < ops; o++) st[o][0] = 0;
            k = 1;
        }
        if (k > MAXD) {
            throw new IllegalArgumentException(op + ": the CUDA kernels take at most " + MAXD
                    + " non-mergeable dimensions, got " + k + " for shape " + Arrays.toString(shape));
        }
        long[][] s = new long[ops][];
        for (int o = 0; o < ops; o++) s[o] = Arrays.copyOf(st[o], k);
        return new Desc(Arrays.copyOf(dims, k), s);
    }

    /** A space with no merging (kernels that need the original dimensions, e.g. an axis). */
    public static Desc exact(String op, int[] shape, long[]... operandStrides) {
        if (shape.length > MAXD) {
            throw new IllegalArgumentException(
                    op + ": the CUDA kernels take at most " + MAXD + " dimensions, got " + shape.length);
        }
        int n = Math.max(1, shape.length);
        long[] dims = new long[n];
        long[][] s = new long[operandStrides.length][n];
        if (shape.length == 0) {
            dims[0] = 1;
        } else {
            for (int i = 0; i < shape.length; i++) dims[i] = shape[i];
            for (int o = 0; o < operandStrides.length; o++) s[o] = operandStrides[o].clone();
        }
        return new Desc(dims, s);
    }

    public KernelStruct struct() {
        ByteBuffer b = KernelStruct.buffer(BYTES);
        b.putInt(0, sizes.length);
        for (int i = 0; i < sizes.length; i++) b.putLong(8 + 8 * i, sizes[i]);
        for (int o = 0; o < strides.length; o++) {
            for (int i = 0; i < sizes.length; i++) b.putLong(8 + 8 * MAXD + 8 * (o * MAXD + i), strides[o][i]);
        }
        return KernelStruct.of(b);
    }

    @Override
    public String toString() {
        return "Desc" + Arrays.toString(sizes) + Arrays.deepToString(strides);
    }
}
