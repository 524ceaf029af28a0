package fulgur.backend.cpu;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * The micro-kernel for 512-bit vectors (AVX-512, 32 registers): 8 rows × 3 vectors (8×48). Per step of depth it
 * loads 3 vectors of B and broadcasts 8 values of A for 24 FMAs, so loads never limit two FMA ports.
 */
final class SgemmKernel8x3 extends SgemmKernel {

    static final VectorSpecies<Float> S = FloatVector.SPECIES_512;
    static final SgemmKernel8x3 INSTANCE = new SgemmKernel8x3();
    private static final int L = S.length();
    private static final int MR = 8;
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    private static final long FB = Float.BYTES;

    private SgemmKernel8x3() {
        super(MR, 3, S);
    }

    @Override
    void compute(int kc, MemorySegment ap, long aByte, MemorySegment b, long bByte, long bStride, float[] tile) {
        FloatVector c00 = FloatVector.zero(S),
                c01 = c00,
                c02 = c00,
                c10 = c00,
                c11 = c00,
                c12 = c00,
                c20 = c00,
                c21 = c00,
                c22 = c00,
                c30 = c00,
                c31 = c00,
                c32 = c00,
                c40 = c00,
                c41 = c00,
                c42 = c00,
                c50 = c00,
                c51 = c00,
                c52 = c00,
                c60 = c00,
                c61 = c00,
                c62 = c00,
                c70 = c00,
                c71 = c00,
                c72 = c00;
        long ai = aByte;
        long bi = bByte;
        for (int p = 0; p < kc; p++, ai += MR * FB, bi += bStride) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bi, NATIVE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bi + L * FB, NATIVE);
            FloatVector b2 = FloatVector.fromMemorySegment(S, b, bi + 2 * L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, ap.get(F, ai));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(S, ap.get(F, ai + FB));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(S, ap.get(F, ai + 2 * FB));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(S, ap.get(F, ai + 3 * FB));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(S, ap.get(F, ai + 4 * FB));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(S, ap.get(F, ai + 5 * FB));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(S, ap.get(F, ai + 6 * FB));
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(S, ap.get(F, ai + 7 * FB));
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
            c72 = x.fma(b2, c72);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c02.intoArray(tile, 2 * L);
        c10.intoArray(tile, 3 * L);
        c11.intoArray(tile, 4 * L);
        c12.intoArray(tile, 5 * L);
        c20.intoArray(tile, 6 * L);
        c21.intoArray(tile, 7 * L);
        c22.intoArray(tile, 8 * L);
        c30.intoArray(tile, 9 * L);
        c31.intoArray(tile, 10 * L);
        c32.intoArray(tile, 11 * L);
        c40.intoArray(tile, 12 * L);
        c41.intoArray(tile, 13 * L);
        c42.intoArray(tile, 14 * L);
        c50.intoArray(tile, 15 * L);
        c51.intoArray(tile, 16 * L);
        c52.intoArray(tile, 17 * L);
        c60.intoArray(tile, 18 * L);
        c61.intoArray(tile, 19 * L);
        c62.intoArray(tile, 20 * L);
        c70.intoArray(tile, 21 * L);
        c71.intoArray(tile, 22 * L);
        c72.intoArray(tile, 23 * L);
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
                c02 = c00,
                c10 = c00,
                c11 = c00,
                c12 = c00,
                c20 = c00,
                c21 = c00,
                c22 = c00,
                c30 = c00,
                c31 = c00,
                c32 = c00,
                c40 = c00,
                c41 = c00,
                c42 = c00,
                c50 = c00,
                c51 = c00,
                c52 = c00,
                c60 = c00,
                c61 = c00,
                c62 = c00,
                c70 = c00,
                c71 = c00,
                c72 = c00;
        long a0 = aByte,
                a1 = a0 + ldaBytes,
                a2 = a1 + ldaBytes,
                a3 = a2 + ldaBytes,
                a4 = a3 + ldaBytes,
                a5 = a4 + ldaBytes,
                a6 = a5 + ldaBytes,
                a7 = a6 + ldaBytes;
        long ai = 0;
        long bi = bByte;
        for (int p = 0; p < kc; p++, ai += FB, bi += bStride) {
            FloatVector b0 = FloatVector.fromMemorySegment(S, b, bi, NATIVE);
            FloatVector b1 = FloatVector.fromMemorySegment(S, b, bi + L * FB, NATIVE);
            FloatVector b2 = FloatVector.fromMemorySegment(S, b, bi + 2 * L * FB, NATIVE);
            FloatVector x = FloatVector.broadcast(S, a.get(F, a0 + ai));
            c00 = x.fma(b0, c00);
            c01 = x.fma(b1, c01);
            c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(S, a.get(F, a1 + ai));
            c10 = x.fma(b0, c10);
            c11 = x.fma(b1, c11);
            c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(S, a.get(F, a2 + ai));
            c20 = x.fma(b0, c20);
            c21 = x.fma(b1, c21);
            c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(S, a.get(F, a3 + ai));
            c30 = x.fma(b0, c30);
            c31 = x.fma(b1, c31);
            c32 = x.fma(b2, c32);
            x = FloatVector.broadcast(S, a.get(F, a4 + ai));
            c40 = x.fma(b0, c40);
            c41 = x.fma(b1, c41);
            c42 = x.fma(b2, c42);
            x = FloatVector.broadcast(S, a.get(F, a5 + ai));
            c50 = x.fma(b0, c50);
            c51 = x.fma(b1, c51);
            c52 = x.fma(b2, c52);
            x = FloatVector.broadcast(S, a.get(F, a6 + ai));
            c60 = x.fma(b0, c60);
            c61 = x.fma(b1, c61);
            c62 = x.fma(b2, c62);
            x = FloatVector.broadcast(S, a.get(F, a7 + ai));
            c70 = x.fma(b0, c70);
            c71 = x.fma(b1, c71);
            c72 = x.fma(b2, c72);
        }
        c00.intoArray(tile, 0);
        c01.intoArray(tile, L);
        c02.intoArray(tile, 2 * L);
        c10.intoArray(tile, 3 * L);
        c11.intoArray(tile, 4 * L);
        c12.intoArray(tile, 5 * L);
        c20.intoArray(tile, 6 * L);
        c21.intoArray(tile, 7 * L);
        c22.intoArray(tile, 8 * L);
        c30.intoArray(tile, 9 * L);
        c31.intoArray(tile, 10 * L);
        c32.intoArray(tile, 11 * L);
        c40.intoArray(tile, 12 * L);
        c41.intoArray(tile, 13 * L);
        c42.intoArray(tile, 14 * L);
        c50.intoArray(tile, 15 * L);
        c51.intoArray(tile, 16 * L);
        c52.intoArray(tile, 17 * L);
        c60.intoArray(tile, 18 * L);
        c61.intoArray(tile, 19 * L);
        c62.intoArray(tile, 20 * L);
        c70.intoArray(tile, 21 * L);
        c71.intoArray(tile, 22 * L);
        c72.intoArray(tile, 23 * L);
    }
}
