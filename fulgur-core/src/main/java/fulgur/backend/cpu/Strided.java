package fulgur.backend.cpu;

/**
 * Iteration over a shape with one stride vector per operand: adjacent dimensions that are contiguous for every
 * operand are merged, the last merged dimension becomes the inner loop and the rest are "rows".
 */
final class Strided {
    private final int[] dims;
    private final long[][] strides; // [operand][dim]

    private Strided(int[] dims, long[][] strides) {
        this.dims = dims;
        this.strides = strides;
    }

    static Strided of(int[] shape, long[]... operandStrides) {
        int n = shape.length;
        int ops = operandStrides.length;
        int[] dims = new int[Math.max(1, n)];
        long[][] st = new long[ops][Math.max(1, n)];
        int k = 0;
        if (n == 0) {
            dims[0] = 1;
            for (int o = 0; o < ops; o++) {
                st[o][0] = 1;
            }
            return new Strided(dims, st);
        }
        for (int i = 0; i < n; i++) {
            if (shape[i] == 1 && n > 1) {
                continue; // size-1 dims never move the offset
            }
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
                    for (int o = 0; o < ops; o++) {
                        st[o][k - 1] = operandStrides[o][i];
                    }
                    continue;
                }
            }
            dims[k] = shape[i];
            for (int o = 0; o < ops; o++) {
                st[o][k] = operandStrides[o][i];
            }
            k++;
        }
        if (k == 0) {
            dims[0] = 1;
            k = 1;
        }
        int[] d = java.util.Arrays.copyOf(dims, k);
        long[][] s = new long[ops][];
        for (int o = 0; o < ops; o++) {
            s[o] = java.util.Arrays.copyOf(st[o], k);
        }
        return new Strided(d, s);
    }

    int inner() {
        return dims[dims.length - 1];
    }

    long innerStride(int operand) {
        return strides[operand][dims.length - 1];
    }

    long rows() {
        long r = 1;
        for (int i = 0; i < dims.length - 1; i++) {
            r *= dims[i];
        }
        return r;
    }

    /** Element offsets (relative to each operand's base) of the start of row {@code row}. */
    void offsets(long row, long[] out) {
        java.util.Arrays.fill(out, 0);
        for (int i = dims.length - 2; i >= 0; i--) {
            long idx = row % dims[i];
            row /= dims[i];
            for (int o = 0; o < out.length; o++) {
                out[o] += idx * strides[o][i];
            }
        }
    }
}
