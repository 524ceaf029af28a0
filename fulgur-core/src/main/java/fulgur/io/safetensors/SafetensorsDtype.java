package fulgur.io.safetensors;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The element types of the safetensors format that occupy whole bytes, with their header names. fulgur's tensors use
 * F32, F16, BF16, F64, I32 and I64; the others are read (and written) so that foreign checkpoints load.
 */
public enum SafetensorsDtype {
    /** Boolean, one byte (0 or 1). */
    BOOL(1),
    /** Unsigned 8-bit integer. */
    U8(1),
    /** Signed 8-bit integer. */
    I8(1),
    /** 8-bit float, 5 exponent and 2 mantissa bits. */
    F8_E5M2(1),
    /** 8-bit float, 4 exponent and 3 mantissa bits. */
    F8_E4M3(1),
    /** Signed 16-bit integer. */
    I16(2),
    /** Unsigned 16-bit integer. */
    U16(2),
    /** IEEE half precision. */
    F16(2),
    /** bfloat16. */
    BF16(2),
    /** Signed 32-bit integer. */
    I32(4),
    /** Unsigned 32-bit integer. */
    U32(4),
    /** IEEE single precision. */
    F32(4),
    /** Signed 64-bit integer. */
    I64(8),
    /** Unsigned 64-bit integer. */
    U64(8),
    /** IEEE double precision. */
    F64(8);

    private final int byteSize;

    SafetensorsDtype(int byteSize) {
        this.byteSize = byteSize;
    }

    /**
     * Bytes per element.
     *
     * @return the size
     */
    public int byteSize() {
        return byteSize;
    }

    /**
     * The dtype named {@code name} in a header (case-sensitive, as the format is).
     *
     * @param name the header's name, e.g. {@code "BF16"}
     * @return the dtype
     * @throws IllegalArgumentException for an unknown name, listing the known ones
     */
    public static SafetensorsDtype of(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown safetensors dtype \"" + name + "\", expected one of " + known());
    }

    /**
     * Whether {@code name} is a dtype this enum knows.
     *
     * @param name a header name
     * @return true when known
     */
    public static boolean isKnown(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return true;
            }
        }
        return false;
    }

    static String known() {
        return Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", "));
    }
}
