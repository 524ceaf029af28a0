package fulgur.ops.lightning;

import static fulgur.ops.lightning.LightningTestSupport.assertClose;
import static fulgur.ops.lightning.LightningTestSupport.f32;
import static fulgur.ops.lightning.LightningTestSupport.f64;
import static fulgur.ops.lightning.LightningTestSupport.randomF32;
import static fulgur.ops.lightning.LightningTestSupport.slopesFor;
import static fulgur.ops.lightning.LightningTestSupport.widen;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Chunked (f32, vectorized) against the naive oracle (f64) in value and in every gradient. */
class LightningChunkedTest {

    static final double F32_TOL = 1e-5;

    record Case(
            String name,
            int batch,
            int seqLen,
            int heads,
            int dk,
            int dv,
            double[] slopes,
            double scale,
            int block,
            boolean initialState,
            boolean dFinalState) {
        @Override
        public String toString() {
            return name + " B=" + batch + " T=" + seqLen + " H=" + heads + " d=" + dk + " e=" + dv + " block=" + block
                    + " scale=" + scale + (initialState ? " +S0" : "") + (dFinalState ? " +dS_T" : "");
        }
    }

    static final double[] MIXED3 = slopesFor(0.999, 0.9, 0.4);

    static Stream<Case> cases() {
        return Stream.of(
                new Case("T=1", 2, 1, 3, 24, 40, MIXED3, 1.0, 64, true, true),
                new Case("T=5", 2, 5, 3, 24, 40, MIXED3, 0.75, 64, false, false),
                new Case("T=63", 2, 63, 3, 24, 40, MIXED3, 1.0, 64, true, false),
                new Case("T=64", 2, 64, 3, 24, 40, MIXED3, 0.5, 64, false, true),
                new Case("T=65", 2, 65, 3, 24, 40, MIXED3, 1.0, 64, true, true),
                new Case("T=130", 2, 130, 3, 24, 40, MIXED3, 1.25, 64, true, true),
                new Case("T=200", 2, 200, 3, 24, 40, MIXED3, 1.0, 64, false, false),
                new Case("T=200 S0", 1, 200, 3, 24, 40, MIXED3, 0.125, 64, true, true),
                new Case("lambda 0.999", 1, 200, 2, 24, 40, slopesFor(0.999, 0.999), 1.0, 64, true, true),
                new Case("lambda 0.4", 1, 200, 2, 40, 24, slopesFor(0.4, 0.41), 1.0, 64, true, true),
                new Case(
                        "H=12 TNL layer 0",
                        1,
                        130,
                        12,
                        16,
                        20,
                        LightningDecay.tnlSlopes(12, 0, 4),
                        1.0,
                        64,
                        true,
                        true),
                new Case(
                        "H=12 TNL last layer",
                        1,
                        97,
                        12,
                        17,
                        9,
                        LightningDecay.tnlSlopes(12, 3, 4),
                        1.0,
                        32,
                        true,
                        true),
                new Case("block 16", 2, 100, 3, 24, 40, MIXED3, 1.0, 16, true, true),
                new Case("block 1", 1, 20, 3, 8, 5, MIXED3, 2.0, 1, true, true),
                new Case("block 7", 1, 50, 3, 3, 1, MIXED3, 1.0, 7, true, true),
                new Case("head dims 1", 2, 33, 1, 1, 1, slopesFor(0.9), 1.0, 8, true, true),
                new Case("head dim 192/128", 1, 90, 1, 192, 128, slopesFor(0.97), 1.0, 64, true, true),
                new Case("block > T", 1, 40, 3, 24, 40, MIXED3, 1.0, 256, true, true));
    }

    /**
     * Per-thread scratch is reused across calls with other shapes, and padding may hold whatever an earlier call
     * left there (even NaN from non-finite inputs): results must not depend on it.
     */
    @Test
    void scratchReuseAfterOtherShapesAndNonFiniteInputs() {
        double[] slopes = slopesFor(0.95, 0.6);
        try (Arena arena = Arena.ofShared()) {
            SplittableRandom rnd = new SplittableRandom(99);
            LightningShape big = new LightningShape(2, 61, 2, 20, 12);
            MemorySegment q = randomF32(arena, big.qkElements(), 1, rnd);
            MemorySegment k = randomF32(arena, big.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, big.voElements(), 1, rnd);
            for (long i = 0; i < big.qkElements(); i += 7) {
                q.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, Float.NaN);
                k.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, Float.POSITIVE_INFINITY);
            }
            MemorySegment out = f32(arena, big.voElements());
            MemorySegment dq = f32(arena, big.qkElements()), dk = f32(arena, big.qkElements());
            MemorySegment dv = f32(arena, big.voElements());
            LightningChunked.forward(big, q, k, v, slopes, 1, 64, null, null, out, null);
            LightningChunked.backward(big, q, k, v, slopes, 1, 64, null, null, v, null, dq, dk, dv, null);

            for (LightningShape sh :
                    new LightningShape[] {new LightningShape(2, 45, 2, 13, 9), new LightningShape(2, 70, 2, 24, 16)}) {
                MemorySegment q2 = randomF32(arena, sh.qkElements(), 1, rnd);
                MemorySegment k2 = randomF32(arena, sh.qkElements(), 1, rnd);
                MemorySegment v2 = randomF32(arena, sh.voElements(), 1, rnd);
                MemorySegment g2 = randomF32(arena, sh.voElements(), 1, rnd);
                MemorySegment o2 = f32(arena, sh.voElements());
                MemorySegment dq2 = f32(arena, sh.qkElements()), dk2 = f32(arena, sh.qkElements());
                MemorySegment dv2 = f32(arena, sh.voElements());
                LightningChunked.forward(sh, q2, k2, v2, slopes, 1, 64, null, null, o2, null);
                LightningChunked.backward(sh, q2, k2, v2, slopes, 1, 64, null, null, g2, null, dq2, dk2, dv2, null);
                MemorySegment oRef = f64(arena, sh.voElements());
                MemorySegment dqRef = f64(arena, sh.qkElements()), dkRef = f64(arena, sh.qkElements());
                MemorySegment dvRef = f64(arena, sh.voElements());
                LightningNaive.forwardF64(
                        sh, widen(arena, q2), widen(arena, k2), widen(arena, v2), slopes, 1, null, null, oRef, null);
                LightningNaive.backwardF64(
                        sh,
                        widen(arena, q2),
                        widen(arena, k2),
                        widen(arena, v2),
                        slopes,
                        1,
                        null,
                        null,
                        widen(arena, g2),
                        null,
                        dqRef,
                        dkRef,
                        dvRef,
                        null);
                assertClose("o after reuse " + sh, o2, false, oRef, true, F32_TOL);
                assertClose("dq after reuse " + sh, dq2, false, dqRef, true, F32_TOL);
                assertClose("dk after reuse " + sh, dk2, false, dkRef, true, F32_TOL);
                assertClose("dv after reuse " + sh, dv2, false, dvRef, true, F32_TOL);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void chunkedMatchesNaiveInValueAndGradient(Case c) {
        LightningShape sh = new LightningShape(c.batch(), c.seqLen(), c.heads(), c.dk(), c.dv());
        SplittableRandom rnd = new SplittableRandom(c.toString().hashCode());
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment k = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, sh.voElements(), 1, rnd);
            long st = sh.stateElements(c.batch());
            MemorySegment s0 = c.initialState() ? randomF32(arena, st, 1, rnd) : null;
            MemorySegment dOut = randomF32(arena, sh.voElements(), 1, rnd);
            MemorySegment dsT = c.dFinalState() ? randomF32(arena, st, 1, rnd) : null;

            // chunked, f32
            MemorySegment out = f32(arena, sh.voElements()), sT = f32(arena, st);
            LightningChunked.forward(sh, q, k, v, c.slopes(), c.scale(), c.block(), null, s0, out, sT);
            MemorySegment dq = f32(arena, sh.qkElements()), dk = f32(arena, sh.qkElements());
            MemorySegment dv = f32(arena, sh.voElements()), ds0 = f32(arena, st);
            LightningChunked.backward(
                    sh, q, k, v, c.slopes(), c.scale(), c.block(), null, s0, dOut, dsT, dq, dk, dv, ds0);

            // naive oracle, f64 on the same numbers
            MemorySegment q64 = widen(arena, q), k64 = widen(arena, k), v64 = widen(arena, v);
            MemorySegment s064 = widen(arena, s0), dOut64 = widen(arena, dOut), dsT64 = widen(arena, dsT);
            MemorySegment outRef = f64(arena, sh.voElements()), sTRef = f64(arena, st);
            LightningNaive.forwardF64(sh, q64, k64, v64, c.slopes(), c.scale(), null, s064, outRef, sTRef);
            MemorySegment dqRef = f64(arena, sh.qkElements()), dkRef = f64(arena, sh.qkElements());
            MemorySegment dvRef = f64(arena, sh.voElements()), ds0Ref = f64(arena, st);
            LightningNaive.backwardF64(
                    sh, q64, k64, v64, c.slopes(), c.scale(), null, s064, dOut64, dsT64, dqRef, dkRef, dvRef, ds0Ref);

            assertClose("o", out, false, outRef, true, F32_TOL);
            assertClose("final state", sT, false, sTRef, true, F32_TOL);
            assertClose("dq", dq, false, dqRef, true, F32_TOL);
            assertClose("dk", dk, false, dkRef, true, F32_TOL);
            assertClose("dv", dv, false, dvRef, true, F32_TOL);
            assertClose("dS0", ds0, false, ds0Ref, true, F32_TOL);
        }
    }
}
