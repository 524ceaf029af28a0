package fulgur.tensor;

import java.util.Arrays;

/** Static helpers for shapes and strides (shapes are int[], strides and offsets are in elements). */
public final class Shape {
    private Shape() {}

    /**
     * The number of elements of {@code shape}: the product of its dimensions (1 for a scalar).
     *
     * @param shape the dimensions
     * @return the product
     */
    public static long numel(int[] shape) {
        long n = 1;
        for (int s : shape) {
            n *= s;
        }
        return n;
    }

    /**
     * Row-major strides, in elements (a dimension of size 0 counts as 1, so strides stay distinct).
     *
     * @param shape the dimensions
     * @return the stride of each dimension
     */
    public static long[] contiguousStrides(int[] shape) {
        long[] strides = new long[shape.length];
        long s = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            strides[i] = s;
            s *= Math.max(1, shape[i]);
        }
        return strides;
    }

    /**
     * Rejects negative dimensions and shapes whose element count overflows a long.
     *
     * @param op the operation to name in the error
     * @param shape the dimensions
     * @throws IllegalArgumentException for a negative dimension or more than 2^63-1 elements
     */
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

    /**
     * Normalises a possibly negative axis against {@code ndim}.
     *
     * @param op the operation to name in the error
     * @param axis the axis, in [-ndim, ndim)
     * @param ndim the number of dimensions
     * @return the axis in [0, ndim)
     * @throws IllegalArgumentException when {@code axis} is out of range
     */
    public static int axis(String op, int axis, int ndim) {
        int a = axis < 0 ? axis + ndim : axis;
        if (a < 0 || a >= ndim) {
            throw new IllegalArgumentException(
                    op + ": axis " + axis + " out of range for a tensor of " + ndim + " dimensions");
        }
        return a;
    }

    /**
     * The broadcast shape of two shapes (numpy rules), or an error naming the op and both shapes.
     *
     * @param op the operation to name in the error
     * @param a one shape
     * @param b the other
     * @return the broadcast shape
     * @throws IllegalArgumentException when a pair of dimensions differ and neither is 1
     */
    public static int[] broadcast(String op, int[] a, int[] b) {
        int n = Math.max(a.length, b.length);
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            int da = i - (n - a.length) >= 0 ? a[i - (n - a.length)] : 1;
            int db = i - (n - b.length) >= 0 ? b[i - (n - b.length)] : 1;
            if (da != db && da != 1 && db != 1) {
                throw new IllegalArgumentException(op + ": shapes " + str(a) + " and " + str(b)
                        + " cannot be broadcast together (dimension " + i + ": " + da + " vs " + db + ")");
            }
            out[i] = da == 1 ? db : da;
        }
        return out;
    }

    /**
     * {@return the shape as {@code [2, 3]}, for messages}
     *
     * @param shape the dimensions
     */
    public static String str(int[] shape) {
        return Arrays.toString(shape);
    }

    /**
     * {@return {@code a} followed by {@code b}}
     *
     * @param a the leading dimensions
     * @param b the trailing dimensions
     */
    public static int[] concat(int[] a, int... b) {
        int[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /**
     * Product of dims [from, to).
     *
     * @param shape the dimensions
     * @param from the first dimension, inclusive
     * @param to the last dimension, exclusive
     * @return the product
     */
    public static long prod(int[] shape, int from, int to) {
        long n = 1;
        for (int i = from; i < to; i++) {
            n *= shape[i];
        }
        return n;
    }

    /**
     * {@return {@code n} as an int}
     *
     * @param op the operation to name in the error
     * @param n a size
     * @throws IllegalArgumentException when {@code n} exceeds 2^31-1
     */
    public static int toInt(String op, long n) {
        if (n > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(
                    op + ": size " + n + " exceeds the supported 2^31-1 elements per dimension");
        }
        return (int) n;
    }
}
