package fulgur.backend.cpu;

import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * Lane arithmetic whose bits do not depend on the JIT. The Vector API's {@code reduceLanes(ADD)} and its {@code EXP}
 * lanes round differently once C2 turns them into intrinsics than in their Java fallbacks, so the same training step
 * gave different f32 bits from one run to the next. These use only lanewise add, multiply, fma, shuffles and integer
 * bit operations, which are exact in both: a sum in a fixed pairwise order, and exp by range reduction and a polynomial.
 */
public final class Lanes {
    private Lanes() {}

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final VectorSpecies<Double> D = DoubleVector.SPECIES_PREFERRED;
    /** SHIFT_F[h]: lane i takes lane i + h (mod length), for the halving steps of {@link #sum(FloatVector)}. */
    private static final VectorShuffle<Float>[] SHIFT_F = shifts(F);

    private static final VectorShuffle<Double>[] SHIFT_D = shifts(D);

    @SuppressWarnings("unchecked")
    private static <E> VectorShuffle<E>[] shifts(VectorSpecies<E> s) {
        VectorShuffle<E>[] out = new VectorShuffle[s.length()];
        for (int h = 1; h < s.length(); h <<= 1) {
            out[h] = VectorShuffle.iota(s, h, 1, true);
        }
        return out;
    }

    /** The sum of the lanes, pairing lane i with lane i + n/2, then i + n/4, ... (the same order every time). */
    public static float sum(FloatVector v) {
        if (v.species() != F) {
            return sumInOrder(v.toArray());
        }
        for (int h = F.length() >> 1; h >= 1; h >>= 1) {
            v = v.add(v.rearrange(SHIFT_F[h]));
        }
        return v.lane(0);
    }

    /** {@link #sum(FloatVector)} for doubles. */
    public static double sum(DoubleVector v) {
        if (v.species() != D) {
            double s = 0;
            for (double x : v.toArray()) {
                s += x;
            }
            return s;
        }
        for (int h = D.length() >> 1; h >= 1; h >>= 1) {
            v = v.add(v.rearrange(SHIFT_D[h]));
        }
        return v.lane(0);
    }

    private static float sumInOrder(float[] a) {
        float s = 0;
        for (float x : a) {
            s += x;
        }
        return s;
    }

    // Cephes expf: exp(x) = 2^n · exp(r), r = x − n·ln 2 in [−ln2/2, ln2/2], exp(r) ≈ 1 + r + r²·P(r); about 1 ulp.
    // x is clamped to [−104, 89]: there 2^n splits into two normal factors, and the product overflows to +inf or
    // rounds to 0 by itself beyond the float range, so no special-case blends are needed (NaN stays NaN).
    private static final FloatVector LOG2E = FloatVector.broadcast(F, 1.44269504088896341f);
    private static final FloatVector LN2_HI = FloatVector.broadcast(F, -0.693359375f);
    private static final FloatVector LN2_LO = FloatVector.broadcast(F, 2.12194440e-4f);
    private static final float ROUND = 12582912f; // 1.5 · 2^23: adding it rounds to an integer held in the low bits
    private static final FloatVector ROUND_V = FloatVector.broadcast(F, ROUND);
    private static final FloatVector P0 = FloatVector.broadcast(F, 1.9875691500E-4f);
    private static final FloatVector P1 = FloatVector.broadcast(F, 1.3981999507E-3f);
    private static final FloatVector P2 = FloatVector.broadcast(F, 8.3334519073E-3f);
    private static final FloatVector P3 = FloatVector.broadcast(F, 4.1665795894E-2f);
    private static final FloatVector P4 = FloatVector.broadcast(F, 1.6666665459E-1f);
    private static final FloatVector P5 = FloatVector.broadcast(F, 5.0000001201E-1f);

    /** e^x per lane, within about 1 ulp (+inf, 0 and NaN as Math.exp gives them, subnormal results included). */
    public static FloatVector exp(FloatVector x) {
        if (x.species() != F) {
            throw new IllegalArgumentException(
                    "Lanes.exp: expected the preferred species " + F + ", got " + x.species());
        }
        FloatVector xc = x.max(-104f).min(89f);
        FloatVector t = xc.fma(LOG2E, ROUND_V);
        FloatVector n = t.sub(ROUND);
        FloatVector r = n.fma(LN2_LO, n.fma(LN2_HI, xc));
        FloatVector p = P0.fma(r, P1).fma(r, P2).fma(r, P3).fma(r, P4).fma(r, P5);
        FloatVector y = p.fma(r.mul(r), r).add(1f);
        // 2^n as 2^(n/2) · 2^(n − n/2), both normal floats, so subnormal results come out right
        IntVector ni = (IntVector) t.reinterpretAsInts().sub(0x4B400000);
        IntVector n1 = ni.lanewise(VectorOperators.ASHR, 1);
        FloatVector f1 =
                (FloatVector) n1.add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        FloatVector f2 = (FloatVector)
                ni.sub(n1).add(127).lanewise(VectorOperators.LSHL, 23).reinterpretAsFloats();
        return y.mul(f1).mul(f2);
    }
}
