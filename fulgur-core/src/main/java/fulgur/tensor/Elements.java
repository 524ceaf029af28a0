package fulgur.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Scalar element access to host memory in any dtype, and the bf16/f16 conversions. Not for hot loops. */
public final class Elements {
    private Elements() {}

    /**
     * Reads element {@code index} of {@code seg} as a double (integers and narrow floats converted).
     *
     * @param seg host memory holding elements of {@code dtype}
     * @param dtype the element type stored
     * @param index the element index (not a byte offset)
     * @return the value
     */
    public static double get(MemorySegment seg, DType dtype, long index) {
        return switch (dtype) {
            case F32 -> seg.getAtIndex(ValueLayout.JAVA_FLOAT, index);
            case F64 -> seg.getAtIndex(ValueLayout.JAVA_DOUBLE, index);
            case BF16 -> bf16ToFloat(seg.getAtIndex(ValueLayout.JAVA_SHORT, index));
            case F16 -> Float.float16ToFloat(seg.getAtIndex(ValueLayout.JAVA_SHORT, index));
            case I32 -> seg.getAtIndex(ValueLayout.JAVA_INT, index);
            case I64 -> seg.getAtIndex(ValueLayout.JAVA_LONG, index);
            case I8 -> seg.get(ValueLayout.JAVA_BYTE, index);
        };
    }

    /**
     * Reads element {@code index} of an integer-typed {@code seg} exactly as a long (floating types are truncated).
     *
     * @param seg host memory holding elements of {@code dtype}
     * @param dtype the element type stored
     * @param index the element index (not a byte offset)
     * @return the value
     */
    public static long getLong(MemorySegment seg, DType dtype, long index) {
        return switch (dtype) {
            case I32 -> seg.getAtIndex(ValueLayout.JAVA_INT, index);
            case I64 -> seg.getAtIndex(ValueLayout.JAVA_LONG, index);
            case I8 -> seg.get(ValueLayout.JAVA_BYTE, index);
            default -> (long) get(seg, dtype, index);
        };
    }

    /**
     * Writes {@code v} as element {@code index} of {@code seg}, rounded once to {@code dtype} (integers truncate, i8
     * saturates).
     *
     * @param seg host memory holding elements of {@code dtype}
     * @param dtype the element type stored
     * @param index the element index (not a byte offset)
     * @param v the value
     */
    public static void set(MemorySegment seg, DType dtype, long index, double v) {
        switch (dtype) {
            case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT, index, (float) v);
            case F64 -> seg.setAtIndex(ValueLayout.JAVA_DOUBLE, index, v);
            case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, index, floatToBf16(toFloatRoundToOdd(v)));
            case F16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, index, Float.floatToFloat16(toFloatRoundToOdd(v)));
            case I32 -> seg.setAtIndex(ValueLayout.JAVA_INT, index, (int) v);
            case I64 -> seg.setAtIndex(ValueLayout.JAVA_LONG, index, (long) v);
            case I8 -> seg.set(ValueLayout.JAVA_BYTE, index, (byte) Math.max(-128, Math.min(127, (int) v)));
        }
    }

    /**
     * Writes {@code v} as element {@code index} of {@code seg}: exact for i64, truncated for i32, saturated for i8.
     *
     * @param seg host memory holding elements of {@code dtype}
     * @param dtype the element type stored
     * @param index the element index (not a byte offset)
     * @param v the value
     */
    public static void setLong(MemorySegment seg, DType dtype, long index, long v) {
        switch (dtype) {
            case I32 -> seg.setAtIndex(ValueLayout.JAVA_INT, index, (int) v);
            case I64 -> seg.setAtIndex(ValueLayout.JAVA_LONG, index, v);
            case I8 -> seg.set(ValueLayout.JAVA_BYTE, index, (byte) Math.max(-128, Math.min(127, v)));
            default -> set(seg, dtype, index, v);
        }
    }

    /**
     * v as a float rounded to odd: v itself when representable, else its neighbour toward zero with the last bit set.
     * Rounding that float to nearest even in a format of at most 22 significand bits (bf16, f16) gives the correctly
     * rounded v, where a plain (float) cast would round twice (1 + 2⁻⁸ + 2⁻³⁰ would become 1 in bf16 instead of 1 + 2⁻⁷).
     */
    static float toFloatRoundToOdd(double v) {
        float f = (float) v;
        if (f == v || Double.isNaN(v)) {
            return f;
        }
        int bits = Float.floatToRawIntBits(f);
        if (Math.abs((double) f) > Math.abs(v)) {
            bits--; // one step toward zero (sign-magnitude)
        }
        return Float.intBitsToFloat(bits | 1);
    }

    /**
     * The float whose bits are the bf16 {@code bits} followed by 16 zero bits (exact).
     *
     * @param bits a bf16 value's bits
     * @return the value as a float
     */
    public static float bf16ToFloat(short bits) {
        return Float.intBitsToFloat((bits & 0xFFFF) << 16);
    }

    /**
     * Round-to-nearest-even conversion; NaN stays NaN.
     *
     * @param f the value
     * @return the bf16 bits
     */
    public static short floatToBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) {
            return (short) ((bits >>> 16) | 0x40);
        }
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
