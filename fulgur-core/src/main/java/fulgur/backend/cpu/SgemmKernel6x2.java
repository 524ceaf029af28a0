package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The micro-kernel for vectors of at most 256 bits (AVX2, NEON; 16 registers on x86): 6 rows × 2 vectors (6×16 on
 * AVX2). Twelve accumulators, two vectors of B and one broadcast value of A fill the sixteen registers.
 */
final class SgemmKernel6x2 extends SgemmKernel {

    static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED.vectorBitSize() > 256
            ? FloatVector.SPECIES_256
            : FloatVector.SPECIES_PREFERRED;
    static final SgemmKernel6x2 INSTANCE = new SgemmKernel6x2();
    private static final int L = S.length();
    private static final int MR = 6;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long FB = Float.BYTES;

    private SgemmKernel6x2() {
        super(MR, 2, S);
    }

    @Override
    void compute(int kc, MemorySegment ap, long aByte, MemorySegment b, long bByte, long bStride, float[] tile) {
        FloatVector c00 = FloatVector.zero(S),
                c01 = c00,
                c10 = c00,
                c11 = c00,
                c20 = c00,
                c21 = c00,
                c30 = c00,
                c31 = c00,
                c40 = c00,
                c41 = c00,
                c50 = c00,
                c51 = c00;
        long ai = aByte;
        long bi = bByte;
        for (int p = 0; p < kc; p++, ai += MR * FB, bi += bStride) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bi, NATIVE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bi + L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, ap.get(F, ai));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, ap.get(F, ai + FB));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, ap.get(F, ai + 2 * FB));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, ap.get(F, ai + 3 * FB));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, ap.get(F, ai + 4 * FB));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, ap.get(F, ai + 5 * FB));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, 2 * L);
        c11.intoArray(tile, 3 * L);
        c20.intoArray(tile, 4 * L);
        c21.intoArray(tile, 5 * L);
        c30.intoArray(tile, 6 * L);
        c31.intoArray(tile, 7 * L);
        c40.intoArray(tile, 8 * L);
        c41.intoArray(tile, 9 * L);
        c50.intoArray(tile, 10 * L);
        c51.intoArray(tile, 11 * L);
    }

    @Override
    void computeRows(
            int kc,
            MemorySegment a,
            long aByte,
            long ldaBytes,
            MemorySegment b,
            long bByte,
            long bStride,
            float[] tile) {
        FloatVector c00 = FloatVector.zero(S),
                c01 = c00,
                c10 = c00,
                c11 = c00,
                c20 = c00,
                c21 = c00,
                c30 = c00,
                c31 = c00,
                c40 = c00,
                c41 = c00,
                c50 = c00,
                c51 = c00;
        long a0 = aByte,
                a1 = a0 + ldaBytes,
                a2 = a1 + ldaBytes,
                a3 = a2 + ldaBytes,
                a4 = a3 + ldaBytes,
                a5 = a4 + ldaBytes;
        long ai = 0;
        long bi = bByte;
        for (int p = 0; p < kc; p++, ai += FB, bi += bStride) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bi, NATIVE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bi + L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, a.get(F, a0 + ai));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(S, a.get(F, a1 + ai));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(S, a.get(F, a2 + ai));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(S, a.get(F, a3 + ai));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            x = FloatVector.broadcast(S, a.get(F, a4 + ai));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            x = FloatVector.broadcast(S, a.get(F, a5 + ai));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c10.intoArray(tile, 2 * L);
        c11.intoArray(tile, 3 * L);
        c20.intoArray(tile, 4 * L);
        c21.intoArray(tile, 5 * L);
        c30.intoArray(tile, 6 * L);
        c31.intoArray(tile, 7 * L);
        c40.intoArray(tile, 8 * L);
        c41.intoArray(tile, 9 * L);
        c50.intoArray(tile, 10 * L);
        c51.intoArray(tile, 11 * L);
    }
}
