package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorShuffle;
import jdk.incubator.vector.VectorSpecies;

/**
 * The GEMV kernel for 512-bit vectors (AVX-512; 32 registers): sixteen rows of B at a time, one accumulator each
 * (sixteen streams from memory in flight), their lanes then summed together into one vector of sixteen results.
 */
final class SgemvKernel16 extends SgemvKernel {

    static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
    static final SgemvKernel16 INSTANCE = new SgemvKernel16();
    private static final int L = S.length();
    private static final int ROWS = 16;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final VectorShuffle<Float> X8 = VectorShuffle.fromArray(S, partner(L, 8), 0);
    private static final VectorMask<Float> M8 = VectorMask.fromArray(S, fromB(L, 8), 0);
    private static final VectorShuffle<Float> X4 = VectorShuffle.fromArray(S, partner(L, 4), 0);
    private static final VectorMask<Float> M4 = VectorMask.fromArray(S, fromB(L, 4), 0);
    private static final VectorShuffle<Float> X2 = VectorShuffle.fromArray(S, partner(L, 2), 0);
    private static final VectorMask<Float> M2 = VectorMask.fromArray(S, fromB(L, 2), 0);
    private static final VectorShuffle<Float> X1 = VectorShuffle.fromArray(S, partner(L, 1), 0);
    private static final VectorMask<Float> M1 = VectorMask.fromArray(S, fromB(L, 1), 0);

    private SgemvKernel16() {
        super(ROWS, S);
    }

    @Override
    void dotRows(
            int k,
            MemorySegment x,
            long xByte,
            MemorySegment b,
            long bByte,
            long ldbBytes,
            int j0,
            int j1,
            float alpha,
            float beta,
            MemorySegment y,
            long yByte) {
        int kv = k / L * L;
        long kvBytes = (long) kv * FB;
        float[] part = GemmScratch.get().tile(ROWS * L);
        int j = j0;
        for (; j + ROWS <= j1; j += ROWS) {
            long row = bByte + j * ldbBytes;
            accumulate(kvBytes, x, xByte, b, row, ldbBytes, part);
            finishBlock(part, k, kv, x, xByte, b, row, ldbBytes, alpha, beta, y, yByte + j * FB);
        }
        for (; j < j1; j++) {
            long row = bByte + j * ldbBytes;
            FloatVector s = FloatVector.zero(S);
            for (long p = 0; p < kvBytes; p += L * FB) {
                s = FloatVector.fromMemorySegment(S, x, xByte + p, NATIVE)
                        .fma(FloatVector.fromMemorySegment(S, b, row + p, NATIVE), s);
            }
            finish(laneSum(s), k, kv, x, xByte, b, row, alpha, beta, y, yByte + j * FB);
        }
    }

    /**
     * The vector part of {@link #ROWS} rows' dot products with x, one accumulator per row (its lanes into
     * {@code part}, row after row). The sums are taken in another method: with them this one grows past what the
     * JIT inlines into, and the vectors passed to a call that is not inlined would be boxed.
     */
    private static void accumulate(
            long kvBytes, MemorySegment x0, long xByte, MemorySegment b, long row, long ldbBytes, float[] part) {
        FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        FloatVector s8 = s0, s9 = s0, s10 = s0, s11 = s0, s12 = s0, s13 = s0, s14 = s0, s15 = s0;
        for (long p = 0; p < kvBytes; p += L * FB) {
            FloatVector x = FloatVector.fromMemorySegment(S, x0, xByte + p, NATIVE);
            long o = row + p;
            s0 = x.fma(FloatVector.fromMemorySegment(S, b, o, NATIVE), s0);
            s1 = x.fma(FloatVector.fromMemorySegment(S, b, o + ldbBytes, NATIVE), s1);
            s2 = x.fma(FloatVector.fromMemorySegment(S, b, o + 2 * ldbBytes, NATIVE), s2);
            s3 = x.fma(FloatVector.fromMemorySegment(S, b, o + 3 * ldbBytes, NATIVE), s3);
            s4 = x.fma(FloatVector.fromMemorySegment(S, b, o + 4 * ldbBytes, NATIVE), s4);
            s5 = x.fma(FloatVector.fromMemorySegment(S, b, o + 5 * ldbBytes, NATIVE), s5);
            s6 = x.fma(FloatVector.fromMemorySegment(S, b, o + 6 * ldbBytes, NATIVE), s6);
            s7 = x.fma(FloatVector.fromMemorySegment(S, b, o + 7 * ldbBytes, NATIVE), s7);
            s8 = x.fma(FloatVector.fromMemorySegment(S, b, o + 8 * ldbBytes, NATIVE), s8);
            s9 = x.fma(FloatVector.fromMemorySegment(S, b, o + 9 * ldbBytes, NATIVE), s9);
            s10 = x.fma(FloatVector.fromMemorySegment(S, b, o + 10 * ldbBytes, NATIVE), s10);
            s11 = x.fma(FloatVector.fromMemorySegment(S, b, o + 11 * ldbBytes, NATIVE), s11);
            s12 = x.fma(FloatVector.fromMemorySegment(S, b, o + 12 * ldbBytes, NATIVE), s12);
            s13 = x.fma(FloatVector.fromMemorySegment(S, b, o + 13 * ldbBytes, NATIVE), s13);
            s14 = x.fma(FloatVector.fromMemorySegment(S, b, o + 14 * ldbBytes, NATIVE), s14);
            s15 = x.fma(FloatVector.fromMemorySegment(S, b, o + 15 * ldbBytes, NATIVE), s15);
        }
        s0.intoArray(part, 0);
        s1.intoArray(part, L);
        s2.intoArray(part, 2 * L);
        s3.intoArray(part, 3 * L);
        s4.intoArray(part, 4 * L);
        s5.intoArray(part, 5 * L);
        s6.intoArray(part, 6 * L);
        s7.intoArray(part, 7 * L);
        s8.intoArray(part, 8 * L);
        s9.intoArray(part, 9 * L);
        s10.intoArray(part, 10 * L);
        s11.intoArray(part, 11 * L);
        s12.intoArray(part, 12 * L);
        s13.intoArray(part, 13 * L);
        s14.intoArray(part, 14 * L);
        s15.intoArray(part, 15 * L);
    }

    /**
     * Sums the lanes of all rows in {@code part} at once, adds the tails and stores the block of y. The rows enter
     * in bit-reversed order, so that after the last step lane i holds row i.
     */
    private static void finishBlock(
            float[] part,
            int k,
            int kv,
            MemorySegment x,
            long xByte,
            MemorySegment b,
            long row,
            long ldbBytes,
            float alpha,
            float beta,
            MemorySegment y,
            long yj) {
        FloatVector t0 = pair(X8, M8, load(part, 0), load(part, 8));
        FloatVector t1 = pair(X8, M8, load(part, 4), load(part, 12));
        FloatVector t2 = pair(X8, M8, load(part, 2), load(part, 10));
        FloatVector t3 = pair(X8, M8, load(part, 6), load(part, 14));
        FloatVector t4 = pair(X8, M8, load(part, 1), load(part, 9));
        FloatVector t5 = pair(X8, M8, load(part, 5), load(part, 13));
        FloatVector t6 = pair(X8, M8, load(part, 3), load(part, 11));
        FloatVector t7 = pair(X8, M8, load(part, 7), load(part, 15));
        FloatVector u0 = pair(X4, M4, t0, t1);
        FloatVector u1 = pair(X4, M4, t2, t3);
        FloatVector u2 = pair(X4, M4, t4, t5);
        FloatVector u3 = pair(X4, M4, t6, t7);
        FloatVector v0 = pair(X2, M2, u0, u1);
        FloatVector v1 = pair(X2, M2, u2, u3);
        FloatVector sums = pair(X1, M1, v0, v1);
        if (kv < k) {
            sums.intoArray(part, 0);
            for (int i = 0; i < ROWS; i++) {
                finish(part[i], k, kv, x, xByte, b, row + i * ldbBytes, alpha, beta, y, yj + i * FB);
            }
            return;
        }
        FloatVector v = sums.mul(alpha);
        if (beta != 0f) {
            v = FloatVector.fromMemorySegment(S, y, yj, NATIVE).fma(FloatVector.broadcast(S, beta), v);
        }
        v.intoMemorySegment(y, yj, NATIVE);
    }

    private static FloatVector load(float[] part, int row) {
        return FloatVector.fromArray(S, part, row * L);
    }

    /** One step of the lane sums of two vectors: each lane adds its partner's value, a's lanes kept or b's. */
    private static FloatVector pair(
            VectorShuffle<Float> partner, VectorMask<Float> fromB, FloatVector a, FloatVector b) {
        return a.add(a.rearrange(partner)).blend(b.add(b.rearrange(partner)), fromB);
    }

    /** The lanes of one row's accumulator summed as a block's are. */
    private static float laneSum(FloatVector v) {
        v = v.add(v.rearrange(X8));
        v = v.add(v.rearrange(X4));
        v = v.add(v.rearrange(X2));
        v = v.add(v.rearrange(X1));
        return v.lane(0);
    }
}
