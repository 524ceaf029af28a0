package fulgur.io.safetensors;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The element types of the safetensors format that occupy whole bytes, with their header names. fulgur's tensors use
 * F32, F16, BF16, F64, I32 and I64; the others are read (and written) so that foreign checkpoints load.
 */
public enum SafetensorsDtype {
    BOOL(1), U8(1), I8(1), F8_E5M2(1), F8_E4M3(1), I16(2), U16(2), F16(2), BF16(2), I32(4), U32(4), F32(4), I64(8), U64(8), F64(8);

    private final int byteSize;

    SafetensorsDtype(int byteSize) {
        this.byteSize = byteSize;
    }

    /** Bytes per element. */
    public int byteSize() {
        return byteSize;
    }

    /** The dtype named {@code name} in a header (case-sensitive, as the format is). */
    public static SafetensorsDtype of(String name) {
        for (SafetensorsDtype d : values()) {
            if (d.name().equals(name)) {
                return d;
            }
        }
        throw new IllegalArgumentException("unknown safetensors dtype \"" + name + "\", expected one of " + known());
    }

    /** Whether {@code name} is a dtype this enum knows. */
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
