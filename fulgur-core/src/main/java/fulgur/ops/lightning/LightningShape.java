package fulgur.ops.lightning;

import java.lang.foreign.MemorySegment;

/**
 * Sizes of one lightning-attention call. Activations are row-major {@code [B, T, H, D]}: q and k are
 * {@code [batch, seqLen, heads, dk]}, v and o are {@code [batch, seqLen, heads, dv]}; recurrent states are
 * {@code [batch, heads, dk, dv]} (or {@code [N, heads, dk, dv]} for N packed sequences). Every dimension must be at
 * least 1; nothing needs to be a power of two or a multiple of a block.
 *
 * <p>The {@code check*} methods are what every public kernel entry point calls first: they throw
 * {@link IllegalArgumentException} naming the op, the argument, what was given and what was expected.
 */
public record LightningShape(int batch, int seqLen, int heads, int dk, int dv) {

    public LightningShape {
        if (batch < 1 || seqLen < 1 || heads < 1 || dk < 1 || dv < 1) {
            throw new IllegalArgumentException("lightning shape: every dimension must be >= 1, got batch=" + batch
                    + " seqLen=" + seqLen + " heads=" + heads + " dk=" + dk + " dv=" + dv);
        }
    }

    /** Element count of q or k: {@code B·T·H·dk}. */
    public long qkElements() {
        return (long) batch * seqLen * heads * dk;
    }

    /** Element count of v or o: {@code B·T·H·dv}. */
    public long voElements() {
        return (long) batch * seqLen * heads * dv;
    }

    /** Element count of a state tensor holding {@code sequences} states: {@code sequences·H·dk·dv}. */
    public long stateElements(int sequences) {
        return (long) sequences * heads * dk * dv;
    }

    /** Number of independent sequences: {@code batch}, or {@code cuSeqlens.length - 1} when packed. */
    public int sequences(int[] cuSeqlens) {
        return cuSeqlens == null ? batch : cuSeqlens.length - 1;
    }

    @Override
    public String toString() {
        return "[B=" + batch + ", T=" + seqLen + ", H=" + heads + ", dk=" + dk + ", dv=" + dv + "]";
    }

    // ---------------------------------------------------------------------------------------------- validation

    /** Checks that {@code seg} holds exactly {@code elements} values of {@code bytesPerElement} bytes. */
    void checkSegment(String op, String name, MemorySegment seg, long elements, int bytesPerElement, String layout) {
        if (seg == null) {
            throw new IllegalArgumentException(op + ": " + name + " must not be null (expected " + layout + " = "
                    + elements + " " + typeName(bytesPerElement) + " for shape " + this + ")");
        }
        long expected = elements * bytesPerElement;
        if (seg.byteSize() != expected) {
            throw new IllegalArgumentException(op + ": " + name + " has " + seg.byteSize() + " bytes, expected "
                    + expected + " bytes (" + layout + " = " + elements + " " + typeName(bytesPerElement)
                    + ") for shape " + this);
        }
    }

    /** Like {@link #checkSegment} but {@code null} is accepted (an absent optional tensor). */
    void checkOptional(String op, String name, MemorySegment seg, long elements, int bytesPerElement, String layout) {
        if (seg != null) {
            checkSegment(op, name, seg, elements, bytesPerElement, layout);
        }
    }

    void checkQkv(String op, MemorySegment q, MemorySegment k, MemorySegment v, int bytes) {
        checkSegment(op, "q", q, qkElements(), bytes, "[B,T,H,dk]");
        checkSegment(op, "k", k, qkElements(), bytes, "[B,T,H,dk]");
        checkSegment(op, "v", v, voElements(), bytes, "[B,T,H,dv]");
    }

    void checkSlopes(String op, double[] slopes) {
        if (slopes == null || slopes.length != heads) {
            throw new IllegalArgumentException(op + ": slopes must have one entry per head, got "
                    + (slopes == null ? "null" : "length " + slopes.length) + ", expected length " + heads);
        }
        for (int h = 0; h < heads; h++) {
            double s = slopes[h];
            if (!(s >= 0) || Double.isInfinite(s)) {
                throw new IllegalArgumentException(op + ": slopes[" + h + "] = " + s
                        + ", expected a finite value >= 0 (lambda = exp(-slope) in (0, 1])");
            }
        }
    }

    static void checkScale(String op, double scale) {
        if (!Double.isFinite(scale)) {
            throw new IllegalArgumentException(op + ": scale = " + scale + ", expected a finite number");
        }
    }

    static void checkBlockSize(String op, int blockSize) {
        if (blockSize < 1) {
            throw new IllegalArgumentException(op + ": blockSize = " + blockSize + ", expected >= 1");
        }
    }

    /** Packed sequences: batch must be 1 and {@code cuSeqlens} must run 0 = c_0 <= c_1 <= ... <= c_N = T, N >= 1. */
    void checkCuSeqlens(String op, int[] cuSeqlens) {
        if (cuSeqlens == null) {
            return;
        }
        if (batch != 1) {
            throw new IllegalArgumentException(
                    op + ": cuSeqlens given with batch = " + batch + ", expected batch = 1 (sequences packed along T)");
        }
        if (cuSeqlens.length < 2) {
            throw new IllegalArgumentException(op + ": cuSeqlens has length " + cuSeqlens.length
                    + ", expected at least 2 offsets [0, ..., T=" + seqLen + "]");
        }
        if (cuSeqlens[0] != 0) {
            throw new IllegalArgumentException(op + ": cuSeqlens[0] = " + cuSeqlens[0] + ", expected 0");
        }
        for (int i = 1; i < cuSeqlens.length; i++) {
            if (cuSeqlens[i] < cuSeqlens[i - 1]) {
                throw new IllegalArgumentException(op + ": cuSeqlens not monotone: cuSeqlens[" + (i - 1) + "] = "
                        + cuSeqlens[i - 1] + " > cuSeqlens[" + i + "] = " + cuSeqlens[i]
                        + ", expected non-decreasing offsets");
            }
        }
        int last = cuSeqlens[cuSeqlens.length - 1];
        if (last != seqLen) {
            throw new IllegalArgumentException(op + ": cuSeqlens ends at " + last + ", expected T = " + seqLen);
        }
    }

    private static String typeName(int bytes) {
        return bytes == Float.BYTES ? "f32" : bytes == Double.BYTES ? "f64" : bytes + "-byte values";
    }
}
