package fulgur.tensor;

import java.util.Arrays;

/** Static helpers for shapes and strides (shapes are int[], strides and offsets are in elements). */
public final class Shape {
    private Shape() {}

    public static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    public static long[] contiguousStrides(int[] shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= Math.max(1, shape[i]);
        }
        return strides;
    }

    /** Rejects negative dimensions and shapes whose element count overflows a long. */
    public static void check(String op, int[] shape) {
        boolean empty = false;
        boolean overflow = false;
        long n = 1;
        for (int s : shape) {
            if (s < 0) {
                throw new IllegalArgumentException(op + ": negative dimension in shape " + str(shape));
            }
            if (s == 0) {
                empty = true;
            } else if (n > Long.MAX_VALUE / s) {
                overflow = true;
            } else {
                n *= s;
            }
        }
        if (overflow && !empty) {
            throw new IllegalArgumentException(op + ": shape " + str(shape) + " has more than 2^63-1 elements");
        }
    }

    /** Normalises a possibly negative axis against {@code ndim}. */
    public static int axis(String op, int axis, int ndim) {
        int a = axis < 0 ? axis + ndim : axis;
        if (a < 0 || a >= ndim) {
            throw new IllegalArgumentException(op + ": axis " + axis + " out of range for a tensor of " + ndim + " dimensions");
        }
        return a;
    }

    /** The broadcast shape of two shapes (numpy rules), or an error naming the op and both shapes. */
    public static int[] broadcast(String op, int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int da = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
            int db = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(op + ": shapes " + str(a) + " and " + str(b) + " cannot be broadcast together (dimension "
                        + i + ": " + da + " vs " + db + ")");
            }
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    public static String str(int[] shape) {
        return Arrays.toString(shape);
    }

    public static int[] concat(int[] a, int... b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Product of dims [from, to). */
    public static long prod(int[] shape, int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) {
            n *= shape[i];
        }
        return n;
    }

    public static int toInt(String op, long n) {
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(op + ": size " + n + " exceeds the supported 2^31-1 elements per dimension");
        }
        return (int) n;
    }
}
