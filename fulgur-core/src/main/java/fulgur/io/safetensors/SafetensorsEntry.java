package fulgur.io.safetensors;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor of a safetensors file: its name, dtype (the header's name, e.g. {@code "F32"}), shape and raw
 * little-endian bytes. Entries read from a file hold a zero-copy slice of the memory-mapped file, valid while the file
 * is open. {@link #shape()} returns a copy; equality compares names, dtypes, shapes and bytes.
 *
 * @param name the tensor's name, non-empty
 * @param dtype the header's dtype name
 * @param shape the dimensions
 * @param data the raw bytes, exactly numel × element size
 */
public record SafetensorsEntry(String name, String dtype, long[] shape, MemorySegment data) {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 =
            ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Checks the entry.
     *
     * @throws NullPointerException when a component is null
     * @throws IllegalArgumentException for an empty name, an unknown dtype, or data of the wrong size
     */
    public SafetensorsEntry {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(dtype, "dtype");
        Objects.requireNonNull(shape, "shape");
        Objects.requireNonNull(data, "data");
        if (name.isEmpty()) {
            throw new IllegalArgumentException("tensor name must not be empty");
        }
        SafetensorsDtype type;
        try {
            type = SafetensorsDtype.of(dtype);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("tensor \"" + name + "\": " + e.getMessage());
        }
        shape = shape.clone();
        long expected = byteSize(name, type, shape);
        if (data.byteSize() != expected) {
            throw new IllegalArgumentException("tensor \"" + name + "\": " + dtype + " " + Arrays.toString(shape)
                    + " needs " + expected + " bytes but the data has " + data.byteSize());
        }
    }

    /**
     * An entry over a copy-free view of {@code bytes}.
     *
     * @param name the tensor's name
     * @param dtype the header's dtype name
     * @param shape the dimensions
     * @param bytes the raw little-endian bytes
     * @return the entry
     * @throws IllegalArgumentException when the bytes do not fit the dtype and shape
     */
    public static SafetensorsEntry of(String name, String dtype, long[] shape, byte[] bytes) {
        return new SafetensorsEntry(name, dtype, shape, MemorySegment.ofArray(bytes));
    }

    /**
     * An F32 entry holding {@code values} (encoded little-endian).
     *
     * @param name the tensor's name
     * @param shape the dimensions
     * @param values the values, row-major
     * @return the entry
     * @throws IllegalArgumentException when the values do not fit the shape
     */
    public static SafetensorsEntry ofFloats(String name, long[] shape, float[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 4)]);
        for (int i = 0; i < values.length; i++) {
            seg.setAtIndex(F32, i, values[i]);
        }
        return new SafetensorsEntry(name, "F32", shape, seg);
    }

    /**
     * An F64 entry holding {@code values}.
     *
     * @param name the tensor's name
     * @param shape the dimensions
     * @param values the values, row-major
     * @return the entry
     * @throws IllegalArgumentException when the values do not fit the shape
     */
    public static SafetensorsEntry ofDoubles(String name, long[] shape, double[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 8)]);
        for (int i = 0; i < values.length; i++) {
            seg.setAtIndex(F64, i, values[i]);
        }
        return new SafetensorsEntry(name, "F64", shape, seg);
    }

    /**
     * An I32 entry holding {@code values}.
     *
     * @param name the tensor's name
     * @param shape the dimensions
     * @param values the values, row-major
     * @return the entry
     * @throws IllegalArgumentException when the values do not fit the shape
     */
    public static SafetensorsEntry ofInts(String name, long[] shape, int[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 4)]);
        for (int i = 0; i < values.length; i++) {
            seg.setAtIndex(I32, i, values[i]);
        }
        return new SafetensorsEntry(name, "I32", shape, seg);
    }

    /**
     * An I64 entry holding {@code values}.
     *
     * @param name the tensor's name
     * @param shape the dimensions
     * @param values the values, row-major
     * @return the entry
     * @throws IllegalArgumentException when the values do not fit the shape
     */
    public static SafetensorsEntry ofLongs(String name, long[] shape, long[] values) {
        MemorySegment seg = MemorySegment.ofArray(new byte[Math.multiplyExact(values.length, 8)]);
        for (int i = 0; i < values.length; i++) {
            seg.setAtIndex(I64, i, values[i]);
        }
        return new SafetensorsEntry(name, "I64", shape, seg);
    }

    /**
     * A copy of the shape.
     *
     * @return the shape
     */
    @Override
    public long[] shape() {
        return shape.clone();
    }

    /**
     * The parsed dtype.
     *
     * @return the dtype
     * @throws IllegalArgumentException when the name is unknown
     */
    public SafetensorsDtype type() {
        return SafetensorsDtype.of(dtype);
    }

    /**
     * Number of dimensions.
     *
     * @return the rank
     */
    public int rank() {
        return shape.length;
    }

    /**
     * Size of dimension {@code i}.
     *
     * @param i the dimension
     * @return its size
     * @throws ArrayIndexOutOfBoundsException when {@code i} is not a dimension
     */
    public long dim(int i) {
        return shape[i];
    }

    /**
     * Number of elements (1 for a scalar).
     *
     * @return the count
     */
    public long numel() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /**
     * Number of bytes of the data.
     *
     * @return the bytes
     */
    public long byteSize() {
        return data.byteSize();
    }

    /**
     * A copy of the raw bytes.
     *
     * @return the bytes
     */
    public byte[] toByteArray() {
        return data.toArray(ValueLayout.JAVA_BYTE);
    }

    /**
     * The values as floats, decoded from F32, F16, BF16 or F64 (narrowed).
     *
     * @return the values, row-major
     * @throws UnsupportedOperationException for another dtype
     */
    public float[] toFloatArray() {
        int n = checkedCount();
        float[] out = new float[n];
        switch (type()) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = data.getAtIndex(F32, i);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.float16ToFloat(data.getAtIndex(I16, i));
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = Float.intBitsToFloat((data.getAtIndex(I16, i) & 0xFFFF) << 16);
                }
            }
            case F64 -> {
                for (int i = 0; i < n; i++) {
                    out[i] = (float) data.getAtIndex(F64, i);
                }
            }
            default ->
                throw new UnsupportedOperationException("tensor \"" + name + "\": cannot decode dtype " + dtype
                        + " as floats (F32, F16, BF16, F64 can)");
        }
        return out;
    }

    /**
     * The values as doubles, decoded from F64, F32, F16 or BF16.
     *
     * @return the values, row-major
     * @throws UnsupportedOperationException for another dtype
     */
    public double[] toDoubleArray() {
        if (type() == SafetensorsDtype.F64) {
            int n = checkedCount();
            double[] out = new double[n];
            for (int i = 0; i < n; i++) {
                out[i] = data.getAtIndex(F64, i);
            }
            return out;
        }
        float[] f = toFloatArray();
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = f[i];
        }
        return out;
    }

    /**
     * The values as longs, decoded from any integer or BOOL dtype.
     *
     * @return the values, row-major
     * @throws UnsupportedOperationException for a floating dtype
     */
    public long[] toLongArray() {
        int n = checkedCount();
        long[] out = new long[n];
        SafetensorsDtype t = type();
        for (int i = 0; i < n; i++) {
            out[i] = switch (t) {
                case BOOL, U8 -> data.get(ValueLayout.JAVA_BYTE, i) & 0xFFL;
                case I8 -> data.get(ValueLayout.JAVA_BYTE, i);
                case I16 -> data.getAtIndex(I16, i);
                case U16 -> data.getAtIndex(I16, i) & 0xFFFFL;
                case I32 -> data.getAtIndex(I32, i);
                case U32 -> data.getAtIndex(I32, i) & 0xFFFF_FFFFL;
                case I64, U64 -> data.getAtIndex(I64, i);
                default ->
                    throw new UnsupportedOperationException(
                            "tensor \"" + name + "\": cannot decode dtype " + dtype + " as integers");
            };
        }
        return out;
    }

    private int checkedCount() {
        long n = numel();
        if (n > Integer.MAX_VALUE - 8) {
            throw new UnsupportedOperationException(
                    "tensor \"" + name + "\" has " + n + " elements, too many for a Java array; use data() directly");
        }
        return (int) n;
    }

    static long byteSize(String name, SafetensorsDtype type, long[] shape) {
        long n = 1;
        for (int i = 0; i < shape.length; i++) {
            if (shape[i] < 0) {
                throw new IllegalArgumentException(
                        "tensor \"" + name + "\": shape " + Arrays.toString(shape) + " has a negative dimension " + i);
            }
            try {
                n = Math.multiplyExact(n, shape[i]);
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("tensor \"" + name + "\": shape " + Arrays.toString(shape)
                        + " has more elements than fit in a long");
            }
        }
        try {
            return Math.multiplyExact(n, type.byteSize());
        } catch (ArithmeticException e) {
            throw new IllegalArgumentException(
                    "tensor \"" + name + "\": shape " + Arrays.toString(shape) + " has more bytes than fit in a long");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SafetensorsEntry e
                && name.equals(e.name)
                && dtype.equals(e.dtype)
                && Arrays.equals(shape, e.shape)
                && data.byteSize() == e.data.byteSize()
                && data.mismatch(e.data) == -1;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, dtype, Arrays.hashCode(shape), data.byteSize());
    }

    @Override
    public String toString() {
        return "SafetensorsEntry[" + name + ", " + dtype + " " + Arrays.toString(shape) + ", " + data.byteSize()
                + " bytes]";
    }
}
