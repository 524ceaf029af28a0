package fulgur.tensor;

/**
 * Element types. Floating types compute in f32 (f64 for f64); bf16 and f16 are storage formats; i8 holds quantized
 * weights (see {@link fulgur.nn.Int8Weights}).
 */
public enum DType {
    F32(4, true, "F32"),
    BF16(2, true, "BF16"),
    F16(2, true, "F16"),
    F64(8, true, "F64"),
    I32(4, false, "I32"),
    I64(8, false, "I64"),
    I8(1, false, "I8");

    private final int byteSize;
    private final boolean floating;
    private final String safetensorsName;

    DType(int byteSize, boolean floating, String safetensorsName) {
        this.byteSize = byteSize;
        this.floating = floating;
        this.safetensorsName = safetensorsName;
    }

    public int byteSize() {
        return byteSize;
    }

    public boolean isFloating() {
        return floating;
    }

    /** The dtype name used in safetensors headers. */
    public String safetensorsName() {
        return safetensorsName;
    }

    public static DType fromSafetensorsName(String name) {
        for (DType d : values()) {
            if (d.safetensorsName.equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unsupported safetensors dtype '" + name + "' (expected one of F32, BF16, F16, F64, I32, I64, I8)");
    }

    /** The type arithmetic on this type is carried out in: f64 for f64, f32 for other floats, the type itself for integers. */
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
