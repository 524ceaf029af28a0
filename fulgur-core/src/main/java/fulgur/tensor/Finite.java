package fulgur.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Map;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Finds non-finite values (NaN, +Inf, -Inf) in tensors: weights just loaded, about to be saved, or after a step
 * whose gradient norm was not finite. A value is non-finite when its exponent bits are all ones, so the scan tests
 * bit patterns with the Vector API and runs at memory speed. Tensors on a device are copied to the host first;
 * integer tensors are always finite.
 */
public final class Finite {

    private static final VectorSpecies<Integer> I = IntVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Long> L = LongVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Short> S = ShortVector.SPECIES_PREFERRED;
    private static final ByteOrder NO = ByteOrder.nativeOrder();

    private Finite() {}

    /**
     * The flat (row-major) index of the first non-finite element of {@code t}, or -1 when every element is finite.
     *
     * @param t the tensor, on any device
     * @return the index, or -1
     */
    public static long firstNonFinite(Tensor t) {
        Hit h = find(t);
        return h == null ? -1 : h.index;
    }

    /**
     * Whether every element of {@code t} is finite.
     *
     * @param t the tensor, on any device
     * @return true when no element is NaN or infinite
     */
    public static boolean isFinite(Tensor t) {
        return find(t) == null;
    }

    /**
     * The first tensor of {@code tensors} (in the map's order) holding a non-finite value, described as
     * {@code 'name' has NaN at element 12 of [4, 8]}; null when all are finite.
     *
     * @param tensors tensors by name (parameters, gradients)
     * @return the description, or null
     */
    public static String describeFirst(Map<String, Tensor> tensors) {
        for (var e : tensors.entrySet()) {
            String d = describe(e.getKey(), e.getValue());
            if (d != null) {
                return d;
            }
        }
        return null;
    }

    /**
     * {@code 'name' has NaN at element 12 of [4, 8]}, or null when {@code t} is finite.
     *
     * @param name the name to show
     * @param t the tensor, on any device
     * @return the description, or null
     */
    public static String describe(String name, Tensor t) {
        Hit h = find(t);
        return h == null
                ? null
                : "'" + name + "' has " + h.value + " at element " + h.index + " of " + Shape.str(t.shape());
    }

    /** A tensor that had to be finite was not; the message describes it as {@link #describe} does. */
    public static final class NonFiniteException extends IllegalStateException {
        NonFiniteException(String message) {
            super(message);
        }
    }

    /**
     * Throws {@link NonFiniteException} when {@code t} holds a non-finite value.
     *
     * @param name the name the message shows
     * @param t the tensor to check
     * @throws NonFiniteException when an element is NaN or infinite, naming it and its index
     */
    public static void requireFinite(String name, Tensor t) {
        String d = describe(name, t);
        if (d != null) {
            throw new NonFiniteException(d);
        }
    }

    private record Hit(long index, double value) {}

    private static Hit find(Tensor t) {
        if (!t.dtype().isFloating() || t.numel() == 0) {
            return null;
        }
        try (Scope s = Scope.open("finite")) {
            Tensor host = t.device().kind() == Device.Kind.CPU
                    ? t.detach()
                    : t.detach().to(Device.CPU);
            Tensor c = host.isContiguous() ? host : host.contiguous();
            long es = c.dtype().byteSize();
            MemorySegment seg = c.hostSegment("finite").asSlice(c.offset() * es, c.numel() * es);
            long n = c.numel();
            long i = switch (c.dtype()) {
                case F32 -> scan32(seg, n);
                case F64 -> scan64(seg, n);
                case BF16 -> scan16(seg, n, (short) 0x7f80);
                case F16 -> scan16(seg, n, (short) 0x7c00);
                default -> -1;
            };
            if (i < 0) {
                return null;
            }
            double v = switch (c.dtype()) {
                case F32 -> seg.get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4);
                case F64 -> seg.get(ValueLayout.JAVA_DOUBLE_UNALIGNED, i * 8);
                // a 16-bit float with all exponent bits set: NaN when the fraction is non-zero, else an infinity
                default -> {
                    short bits = seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2);
                    int fraction = c.dtype() == DType.BF16 ? bits & 0x7f : bits & 0x3ff;
                    yield fraction != 0 ? Double.NaN : bits < 0 ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
                }
            };
            return new Hit(i, v);
        }
    }

    private static long scan32(MemorySegment seg, long n) {
        int exp = 0x7f800000;
        long i = 0;
        long bound = n - n % I.length();
        for (; i < bound; i += I.length()) {
            IntVector v = IntVector.fromMemorySegment(I, seg, i * 4, NO).and(exp);
            if (v.compare(VectorOperators.EQ, exp).anyTrue()) {
                break;
            }
        }
        for (; i < n; i++) {
            if ((seg.get(ValueLayout.JAVA_INT_UNALIGNED, i * 4) & exp) == exp) {
                return i;
            }
        }
        return -1;
    }

    private static long scan64(MemorySegment seg, long n) {
        long exp = 0x7ff0000000000000L;
        long i = 0;
        long bound = n - n % L.length();
        for (; i < bound; i += L.length()) {
            LongVector v = LongVector.fromMemorySegment(L, seg, i * 8, NO).and(exp);
            if (v.compare(VectorOperators.EQ, exp).anyTrue()) {
                break;
            }
        }
        for (; i < n; i++) {
            if ((seg.get(ValueLayout.JAVA_LONG_UNALIGNED, i * 8) & exp) == exp) {
                return i;
            }
        }
        return -1;
    }

    private static long scan16(MemorySegment seg, long n, short exp) {
        long i = 0;
        long bound = n - n % S.length();
        for (; i < bound; i += S.length()) {
            ShortVector v = ShortVector.fromMemorySegment(S, seg, i * 2, NO).and(exp);
            if (v.compare(VectorOperators.EQ, exp).anyTrue()) {
                break;
            }
        }
        for (; i < n; i++) {
            if ((seg.get(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2) & exp) == exp) {
                return i;
            }
        }
        return -1;
    }
}
