package fulgur.ops.lightning;

import static fulgur.ops.lightning.LightningTestSupport.assertClose;
import static fulgur.ops.lightning.LightningTestSupport.f32;
import static fulgur.ops.lightning.LightningTestSupport.f64;
import static fulgur.ops.lightning.LightningTestSupport.randomF32;
import static fulgur.ops.lightning.LightningTestSupport.slice;
import static fulgur.ops.lightning.LightningTestSupport.slopesFor;
import static fulgur.ops.lightning.LightningTestSupport.values;
import static fulgur.ops.lightning.LightningTestSupport.widen;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Packed sequences (cuSeqlens) equal running each sequence alone: values, final states and all gradients. */
class LightningVarlenTest {

    static final double F32_TOL = 1e-5;

    @Test
    void packedEqualsEachSequenceAlone() {
        // lengths 5, 0 (empty), 65, 130, 1: partial blocks, an exact block plus one, a one-token sequence
        int[] cu = {0, 5, 5, 70, 200, 201};
        int heads = 3, d = 24, e = 40, block = 64, nSeq = cu.length - 1;
        double[] slopes = slopesFor(0.999, 0.9, 0.4);
        double scale = 0.9;
        LightningShape packed = new LightningShape(1, cu[nSeq], heads, d, e);
        long st = packed.stateElements(nSeq), per = (long) heads * d * e;
        SplittableRandom rnd = new SplittableRandom(42);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, packed.qkElements(), 1, rnd);
            MemorySegment k = randomF32(arena, packed.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, packed.voElements(), 1, rnd);
            MemorySegment s0 = randomF32(arena, st, 1, rnd);
            MemorySegment dOut = randomF32(arena, packed.voElements(), 1, rnd);
            MemorySegment dsT = randomF32(arena, st, 1, rnd);

            MemorySegment out = f32(arena, packed.voElements()), sT = f32(arena, st);
            LightningChunked.forward(packed, q, k, v, slopes, scale, block, cu, s0, out, sT);
            MemorySegment dq = f32(arena, packed.qkElements()), dk = f32(arena, packed.qkElements());
            MemorySegment dv = f32(arena, packed.voElements()), ds0 = f32(arena, st);
            LightningChunked.backward(packed, q, k, v, slopes, scale, block, cu, s0, dOut, dsT, dq, dk, dv, ds0);

            for (int s = 0; s < nSeq; s++) {
                int len = cu[s + 1] - cu[s];
                MemorySegment s0s = slice(s0, s * per, per, 4), sTs = slice(sT, s * per, per, 4);
                MemorySegment dsTs = slice(dsT, s * per, per, 4), ds0s = slice(ds0, s * per, per, 4);
                if (len == 0) {
                    // an empty sequence passes its state through unchanged, and its gradient too
                    assertThat(values(sTs, false)).containsExactly(values(s0s, false));
                    assertThat(values(ds0s, false)).containsExactly(values(dsTs, false));
                    continue;
                }
                LightningShape one = new LightningShape(1, len, heads, d, e);
                long qo = (long) cu[s] * heads * d, vo = (long) cu[s] * heads * e;
                MemorySegment qs = slice(q, qo, one.qkElements(), 4), ks = slice(k, qo, one.qkElements(), 4);
                MemorySegment vs = slice(v, vo, one.voElements(), 4), gs = slice(dOut, vo, one.voElements(), 4);
                MemorySegment outAlone = f32(arena, one.voElements()), sTAlone = f32(arena, per);
                LightningChunked.forward(one, qs, ks, vs, slopes, scale, block, null, s0s, outAlone, sTAlone);
                MemorySegment dqA = f32(arena, one.qkElements()), dkA = f32(arena, one.qkElements());
                MemorySegment dvA = f32(arena, one.voElements()), ds0A = f32(arena, per);
                LightningChunked.backward(
                        one, qs, ks, vs, slopes, scale, block, null, s0s, gs, dsTs, dqA, dkA, dvA, ds0A);
                String tag = "sequence " + s + " (T=" + len + ") ";
                assertClose(tag + "o", slice(out, vo, one.voElements(), 4), false, outAlone, false, F32_TOL);
                assertClose(tag + "final state", sTs, false, sTAlone, false, F32_TOL);
                assertClose(tag + "dq", slice(dq, qo, one.qkElements(), 4), false, dqA, false, F32_TOL);
                assertClose(tag + "dk", slice(dk, qo, one.qkElements(), 4), false, dkA, false, F32_TOL);
                assertClose(tag + "dv", slice(dv, vo, one.voElements(), 4), false, dvA, false, F32_TOL);
                assertClose(tag + "dS0", ds0s, false, ds0A, false, F32_TOL);
            }

            // and the packed chunked result matches the packed naive oracle
            MemorySegment outRef = f64(arena, packed.voElements()), sTRef = f64(arena, st);
            LightningNaive.forwardF64(
                    packed,
                    widen(arena, q),
                    widen(arena, k),
                    widen(arena, v),
                    slopes,
                    scale,
                    cu,
                    widen(arena, s0),
                    outRef,
                    sTRef);
            assertClose("packed o vs naive", out, false, outRef, true, F32_TOL);
            assertClose("packed final states vs naive", sT, false, sTRef, true, F32_TOL);
            MemorySegment dqRef = f64(arena, packed.qkElements()), dkRef = f64(arena, packed.qkElements());
            MemorySegment dvRef = f64(arena, packed.voElements()), ds0Ref = f64(arena, st);
            LightningNaive.backwardF64(
                    packed,
                    widen(arena, q),
                    widen(arena, k),
                    widen(arena, v),
                    slopes,
                    scale,
                    cu,
                    widen(arena, s0),
                    widen(arena, dOut),
                    widen(arena, dsT),
                    dqRef,
                    dkRef,
                    dvRef,
                    ds0Ref);
            assertClose("packed dq vs naive", dq, false, dqRef, true, F32_TOL);
            assertClose("packed dk vs naive", dk, false, dkRef, true, F32_TOL);
            assertClose("packed dv vs naive", dv, false, dvRef, true, F32_TOL);
            assertClose("packed dS0 vs naive", ds0, false, ds0Ref, true, F32_TOL);
        }
    }

    @Test
    void stateDoesNotLeakAcrossBoundaries() {
        // two identical sequences packed: with zero initial states, both halves give identical outputs
        int heads = 2, d = 16, e = 8, len = 70;
        LightningShape packed = new LightningShape(1, 2 * len, heads, d, e);
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q1 = randomF32(arena, (long) len * heads * d, 1, rnd);
            MemorySegment k1 = randomF32(arena, (long) len * heads * d, 1, rnd);
            MemorySegment v1 = randomF32(arena, (long) len * heads * e, 1, rnd);
            MemorySegment q = f32(arena, packed.qkElements()), k = f32(arena, packed.qkElements());
            MemorySegment v = f32(arena, packed.voElements());
            for (int half = 0; half < 2; half++) {
                slice(q, (long) half * len * heads * d, (long) len * heads * d, 4)
                        .copyFrom(q1);
                slice(k, (long) half * len * heads * d, (long) len * heads * d, 4)
                        .copyFrom(k1);
                slice(v, (long) half * len * heads * e, (long) len * heads * e, 4)
                        .copyFrom(v1);
            }
            MemorySegment out = f32(arena, packed.voElements());
            LightningChunked.forward(
                    packed, q, k, v, slopesFor(0.999, 0.99), 1.0, 32, new int[] {0, len, 2 * len}, null, out, null);
            long half = (long) len * heads * e;
            assertThat(values(slice(out, half, half, 4), false)).containsExactly(values(slice(out, 0, half, 4), false));
        }
    }
}
