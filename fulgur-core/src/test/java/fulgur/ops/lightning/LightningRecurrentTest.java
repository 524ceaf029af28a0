package fulgur.ops.lightning;

import static fulgur.ops.lightning.LightningTestSupport.assertClose;
import static fulgur.ops.lightning.LightningTestSupport.f32;
import static fulgur.ops.lightning.LightningTestSupport.f64;
import static fulgur.ops.lightning.LightningTestSupport.randomF32;
import static fulgur.ops.lightning.LightningTestSupport.randomF64;
import static fulgur.ops.lightning.LightningTestSupport.relErr;
import static fulgur.ops.lightning.LightningTestSupport.slopesFor;
import static fulgur.ops.lightning.LightningTestSupport.values;
import static fulgur.ops.lightning.LightningTestSupport.widen;
import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Decoding against a state equals the chunked forward (and the naive oracle). */
class LightningRecurrentTest {

    static final double F32_TOL = 1e-5;

    /** Copies tokens [t0, t0+n) of a [B,T,H,w] tensor into a new [B,n,H,w] f32 tensor (or back when !gather). */
    static void moveTokens(
            MemorySegment full,
            MemorySegment part,
            int batch,
            int seqLen,
            int t0,
            int n,
            long rowWidth,
            boolean gather) {
        for (int b = 0; b < batch; b++) {
            long bytes = n * rowWidth * Float.BYTES;
            MemorySegment src = full.asSlice(((long) b * seqLen + t0) * rowWidth * Float.BYTES, bytes);
            MemorySegment dst = part.asSlice((long) b * n * rowWidth * Float.BYTES, bytes);
            if (gather) {
                dst.copyFrom(src);
            } else {
                src.copyFrom(dst);
            }
        }
    }

    /** Decodes the whole sequence in pieces of the given sizes (cycled), returning the outputs; state in place. */
    static MemorySegment decode(
            Arena arena,
            LightningShape sh,
            MemorySegment q,
            MemorySegment k,
            MemorySegment v,
            double[] slopes,
            double scale,
            MemorySegment state,
            int... pieces) {
        int heads = sh.heads(), d = sh.dk(), e = sh.dv();
        MemorySegment out = f32(arena, sh.voElements());
        int t0 = 0, p = 0;
        while (t0 < sh.seqLen()) {
            int n = Math.min(pieces[p++ % pieces.length], sh.seqLen() - t0);
            LightningShape step = new LightningShape(sh.batch(), n, heads, d, e);
            MemorySegment qs = f32(arena, step.qkElements()), ks = f32(arena, step.qkElements());
            MemorySegment vs = f32(arena, step.voElements()), os = f32(arena, step.voElements());
            moveTokens(q, qs, sh.batch(), sh.seqLen(), t0, n, (long) heads * d, true);
            moveTokens(k, ks, sh.batch(), sh.seqLen(), t0, n, (long) heads * d, true);
            moveTokens(v, vs, sh.batch(), sh.seqLen(), t0, n, (long) heads * e, true);
            LightningRecurrent.forward(step, qs, ks, vs, slopes, scale, state, os);
            moveTokens(out, os, sh.batch(), sh.seqLen(), t0, n, (long) heads * e, false);
            t0 += n;
        }
        return out;
    }

    @Test
    void tokenByTokenEqualsChunkedForward() {
        LightningShape sh = new LightningShape(2, 130, 3, 24, 40);
        double[] slopes = slopesFor(0.999, 0.9, 0.4);
        double scale = 0.8;
        SplittableRandom rnd = new SplittableRandom(11);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment k = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, sh.voElements(), 1, rnd);
            MemorySegment s0 = randomF32(arena, sh.stateElements(2), 1, rnd);

            MemorySegment out = f32(arena, sh.voElements()), sT = f32(arena, sh.stateElements(2));
            LightningChunked.forward(sh, q, k, v, slopes, scale, 64, null, s0, out, sT);

            MemorySegment state = f32(arena, sh.stateElements(2));
            state.copyFrom(s0);
            MemorySegment outRec = decode(arena, sh, q, k, v, slopes, scale, state, 1);
            assertClose("token by token o", outRec, false, out, false, F32_TOL);
            assertClose("token by token final state", state, false, sT, false, F32_TOL);

            // prefill + a few tokens at a time
            state.copyFrom(s0);
            MemorySegment outPieces = decode(arena, sh, q, k, v, slopes, scale, state, 17, 1, 3, 64);
            assertClose("pieces o", outPieces, false, out, false, F32_TOL);
            assertClose("pieces final state", state, false, sT, false, F32_TOL);

            // and both against the f64 oracle
            MemorySegment outRef = f64(arena, sh.voElements()), sTRef = f64(arena, sh.stateElements(2));
            LightningNaive.forwardF64(
                    sh,
                    widen(arena, q),
                    widen(arena, k),
                    widen(arena, v),
                    slopes,
                    scale,
                    null,
                    widen(arena, s0),
                    outRef,
                    sTRef);
            assertClose("recurrent o vs naive", outRec, false, outRef, true, F32_TOL);
            assertClose("recurrent state vs naive", state, false, sTRef, true, F32_TOL);
        }
    }

    @Test
    void oneTokenStepsOnTheStateWhereItLiesGiveTheBitsOfTheGeneralPath() {
        // dv = 64, a multiple of the vector length: one token per call updates the state in place; two tokens per call
        // go through the heap copy of the state, with the same operations, so states and outputs agree bit for bit
        LightningShape sh = new LightningShape(3, 40, 2, 24, 64);
        double[] slopes = slopesFor(0.98, 0.7);
        SplittableRandom rnd = new SplittableRandom(29);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment k = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, sh.voElements(), 1, rnd);
            MemorySegment s0 = randomF32(arena, sh.stateElements(3), 1, rnd);
            MemorySegment one = f32(arena, sh.stateElements(3)), two = f32(arena, sh.stateElements(3));
            one.copyFrom(s0);
            two.copyFrom(s0);
            MemorySegment outOne = decode(arena, sh, q, k, v, slopes, 0.7, one, 1);
            MemorySegment outTwo = decode(arena, sh, q, k, v, slopes, 0.7, two, 2);
            assertThat(values(outOne, false)).containsExactly(values(outTwo, false));
            assertThat(values(one, false)).containsExactly(values(two, false));
            MemorySegment outRef = f64(arena, sh.voElements()), sTRef = f64(arena, sh.stateElements(3));
            LightningNaive.forwardF64(
                    sh,
                    widen(arena, q),
                    widen(arena, k),
                    widen(arena, v),
                    slopes,
                    0.7,
                    null,
                    widen(arena, s0),
                    outRef,
                    sTRef);
            assertClose("one token at a time o vs naive", outOne, false, outRef, true, F32_TOL);
            assertClose("one token at a time state vs naive", one, false, sTRef, true, F32_TOL);
        }
    }

    @Test
    void longDecodeStaysAccurate() {
        // λ = 0.05: λ^t underflows long before t = 3000 (a λ^{-t} formulation would overflow); λ = 0.9999: the f32
        // rounding of λ must not compound over thousands of steps
        LightningShape sh = new LightningShape(1, 3000, 2, 8, 8);
        double[] slopes = slopesFor(0.05, 0.9999);
        SplittableRandom rnd = new SplittableRandom(3);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment k = randomF32(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF32(arena, sh.voElements(), 1, rnd);
            MemorySegment out = f32(arena, sh.voElements()), sT = f32(arena, sh.stateElements(1));
            LightningChunked.forward(sh, q, k, v, slopes, 1.0, 64, null, null, out, sT);
            MemorySegment state = f32(arena, sh.stateElements(1));
            MemorySegment outRec = decode(arena, sh, q, k, v, slopes, 1.0, state, 1);
            MemorySegment outRef = f64(arena, sh.voElements()), sTRef = f64(arena, sh.stateElements(1));
            LightningNaive.forwardF64(
                    sh, widen(arena, q), widen(arena, k), widen(arena, v), slopes, 1.0, null, null, outRef, sTRef);
            assertClose("long decode o vs naive", outRec, false, outRef, true, F32_TOL);
            assertClose("long decode state vs naive", state, false, sTRef, true, F32_TOL);
            assertClose("long chunked o vs naive", out, false, outRef, true, F32_TOL);
            assertClose("long chunked state vs naive", sT, false, sTRef, true, F32_TOL);
        }
    }

    @Test
    void f64RecurrenceEqualsNaive() {
        LightningShape sh = new LightningShape(2, 9, 3, 5, 7);
        double[] slopes = slopesFor(0.97, 0.6, 0.3);
        SplittableRandom rnd = new SplittableRandom(5);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment q = randomF64(arena, sh.qkElements(), 1, rnd);
            MemorySegment k = randomF64(arena, sh.qkElements(), 1, rnd);
            MemorySegment v = randomF64(arena, sh.voElements(), 1, rnd);
            MemorySegment s0 = randomF64(arena, sh.stateElements(2), 1, rnd);
            MemorySegment state = f64(arena, sh.stateElements(2));
            state.copyFrom(s0);
            MemorySegment out = f64(arena, sh.voElements());
            LightningRecurrent.forwardF64(sh, q, k, v, slopes, 1.5, state, out);
            MemorySegment outRef = f64(arena, sh.voElements()), sTRef = f64(arena, sh.stateElements(2));
            LightningNaive.forwardF64(sh, q, k, v, slopes, 1.5, null, s0, outRef, sTRef);
            assertThat(relErr(values(out, true), values(outRef, true))).isLessThan(1e-13);
            assertThat(relErr(values(state, true), values(sTRef, true))).isLessThan(1e-13);
        }
    }
}
