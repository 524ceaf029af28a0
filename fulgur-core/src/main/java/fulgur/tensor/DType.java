package fulgur.tensor;

/**
 * Element types. Floating types compute in f32 (f64 for f64); bf16 and f16 are storage formats; i8 holds quantized
 * weights (see {@link fulgur.nn.Int8Weights}).
 */
public enum DType {
    /** 32-bit IEEE float: the default type of parameters and activations. */
    F32(4, true, "F32"),
    /** bfloat16 (8-bit exponent, 7-bit mantissa): a storage format, computed in f32. */
    BF16(2, true, "BF16"),
    /** IEEE half precision: a storage format, computed in f32. */
    F16(2, true, "F16"),
    /** 64-bit IEEE float: for reference computations and gradient checks. */
    F64(8, true, "F64"),
    /** 32-bit signed integer: token ids and targets. */
    I32(4, false, "I32"),
    /** 64-bit signed integer: indices (argmax, arange). */
    I64(8, false, "I64"),
    /** 8-bit signed integer: quantized weights. */
    I8(1, false, "I8");

    private final int byteSize;
    private final boolean floating;
    private final String safetensorsName;

    DType(int byteSize, boolean floating, String safetensorsName) {
        this.byteSize = byteSize;
        this.floating = floating;
        this.safetensorsName = safetensorsName;
    }

    /** {@return the size of one element in bytes} */
    public int byteSize() {
        return byteSize;
    }

    /** {@return whether this is a floating type (only those can require gradients)} */
    public boolean isFloating() {
        return floating;
    }

    /**
     * The dtype name used in safetensors headers.
     *
     * @return the name, e.g. {@code "BF16"}
     */
    public String safetensorsName() {
        return safetensorsName;
    }

    /**
     * The type whose safetensors header name is {@code name}.
     *
     * @param name the name as written in a safetensors header, e.g. {@code "F32"}
     * @return the type
     * @throws IllegalArgumentException when no type has that name
     */
    public static DType fromSafetensorsName(String name) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException(
                "unsupported safetensors dtype '" + name + "' (expected one of F32, BF16, F16, F64, I32, I64, I8)");
    }

    /**
     * The type arithmetic on this type is carried out in: f64 for f64, f32 for other floats, the type itself for
     * integers.
     *
     * @return the compute type
     */
    public DType computeType() {
        return switch (this) {
            case BF16, F16 -> F32;
            default -> this;
        };
    }

    @Override
    public String toString() {
        return name().toLowerCase();
    }
}
