package fulgur.backend.cpu;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * y[M×N] = x[M×K] · (diag(scale) · Q[N×K])ᵀ with Q int8 (weight-only quantization, one f32 scale per output channel),
 * x and y f32 row-major. The weights are never turned back into f32 as a whole: output channels are taken a tile at a
 * time and only that tile is widened.
 * <ul>
 *   <li>One row (a single sequence decoding): groups of 4 channels stream their bytes, widened in registers and
 *       multiplied at once; the weights are read exactly once, one byte each.</li>
 *   <li>A few rows (batched decoding): each tile of {@value #TILE_ROWS} channels × {@value #TILE_DEPTH} inputs is widened
 *       (bytes → floats with the Vector API) into a small buffer that stays in L1, and every row of x is dotted with
 *       it; the per-channel scale multiplies the finished sums. Memory traffic is one byte per weight.</li>
 *   <li>Many rows (prefill): a tile of {@value #WIDE_TILE} channels is widened with its scales into a [tile × K] f32
 *       buffer and multiplied by the packed f32 GEMM, so the widening is amortised over the rows.</li>
 * </ul>
 * Tiles are spread over the shared pool. Sums run in a fixed order, so results do not depend on the thread count.
 */
final class GemmInt8 {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    private static final int L = S.length();
    /** Bytes loaded per step: L of them are used (the 64-bit shape is the smallest). */
    private static final VectorSpecies<Byte> B = ByteVector.SPECIES_64.length() >= L
            ? ByteVector.SPECIES_64
            : VectorSpecies.of(byte.class, VectorShape.forBitSize(L * 8));

    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ByteOrder NATIVE = ByteOrder.nativeOrder();
    static final int TILE_ROWS = 16;
    static final int TILE_DEPTH = 512;
    static final int WIDE_TILE = 64;
    /** From this many rows on, a widened tile goes through the f32 GEMM. */
    static final int GEMM_ROWS = 8;

    private static final ThreadLocal<float[]> SCRATCH =
            ThreadLocal.withInitial(() -> new float[TILE_ROWS * TILE_DEPTH]);
    /** Widened wide tiles go to native memory: the f32 GEMM reads its operands as native segments. */
    private static final ThreadLocal<MemorySegment[]> WIDE =
            ThreadLocal.withInitial(() -> new MemorySegment[] {MemorySegment.NULL});

    private GemmInt8() {}

    /**
     * @param x f32 [m, k] at element offset xOff (row stride k)
     * @param q int8 [n, k] at byte offset qOff (row stride k)
     * @param scale f32 [n] at element offset sOff
     * @param y f32 [m, n], written
     */
    static void gemm(
            int m,
            int n,
            int k,
            MemorySegment x,
            long xOff,
            MemorySegment q,
            long qOff,
            MemorySegment scale,
            long sOff,
            MemorySegment y) {
        if (m == 0 || n == 0) {
            return;
        }
        if (m >= GEMM_ROWS) {
            int tiles = (n + WIDE_TILE - 1) / WIDE_TILE;
            Parallel.forRange(tiles, 1, (t0, t1) -> {
                for (int t = t0; t < t1; t++) {
                    wideTile(
                            t * WIDE_TILE, Math.min(n, (t + 1) * WIDE_TILE), m, n, k, x, xOff, q, qOff, scale, sOff, y);
                }
            });
            return;
        }
        int tiles = (n + TILE_ROWS - 1) / TILE_ROWS;
        long work = (long) m * n * k;
        if (m == 1) {
            Parallel.forRange(
                    tiles,
                    work < (1 << 18) ? tiles : 1,
                    (t0, t1) ->
                            oneRow(t0 * TILE_ROWS, Math.min(n, t1 * TILE_ROWS), k, x, xOff, q, qOff, scale, sOff, y));
            return;
        }
        Parallel.forRange(tiles, work < (1 << 18) ? tiles : 1, (t0, t1) -> {
            float[] acc = new float[m * TILE_ROWS];
            for (int t = t0; t < t1; t++) {
                smallTile(
                        t * TILE_ROWS,
                        Math.min(n, (t + 1) * TILE_ROWS),
                        m,
                        n,
                        k,
                        x,
                        xOff,
                        q,
                        qOff,
                        scale,
                        sOff,
                        y,
                        acc);
            }
        });
    }

    private static MemorySegment wide(long floats) {
        MemorySegment[] holder = WIDE.get();
        if (holder[0].byteSize() < floats * Float.BYTES) {
            holder[0] = Arena.ofAuto().allocate((floats * Float.BYTES + 4095) & ~4095L, 64);
        }
        return holder[0];
    }

    /** Channels [n0, n1) for one row (a single sequence decoding): each weight is widened in registers and used once. */
    private static void oneRow(
            int n0,
            int n1,
            int k,
            MemorySegment x,
            long xOff,
            MemorySegment q,
            long qOff,
            MemorySegment scale,
            long sOff,
            MemorySegment y) {
        int step = B.length();
        int kv = k >= step ? (k - step) / L * L + L : 0; // vector steps whose byte loads stay inside the row
        long xb = xOff * Float.BYTES;
        int j = n0;
        for (; j + 4 <= n1; j += 4) {
            long r0 = qOff + (long) j * k, r1 = r0 + k, r2 = r1 + k, r3 = r2 + k;
            FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
            for (int c = 0; c < kv; c += L) {
                FloatVector xv = FloatVector.fromMemorySegment(S, x, xb + (long) c * Float.BYTES, NATIVE);
                s0 = xv.fma(widen(q, r0 + c), s0);
                s1 = xv.fma(widen(q, r1 + c), s1);
                s2 = xv.fma(widen(q, r2 + c), s2);
                s3 = xv.fma(widen(q, r3 + c), s3);
            }
            float d0 = Lanes.sum(s0), d1 = Lanes.sum(s1), d2 = Lanes.sum(s2), d3 = Lanes.sum(s3);
            for (int c = kv; c < k; c++) {
                float xc = x.getAtIndex(F, xOff + c);
                d0 = Math.fma(xc, q.get(ValueLayout.JAVA_BYTE, r0 + c), d0);
                d1 = Math.fma(xc, q.get(ValueLayout.JAVA_BYTE, r1 + c), d1);
                d2 = Math.fma(xc, q.get(ValueLayout.JAVA_BYTE, r2 + c), d2);
                d3 = Math.fma(xc, q.get(ValueLayout.JAVA_BYTE, r3 + c), d3);
            }
            y.setAtIndex(F, j, d0 * scale.getAtIndex(F, sOff + j));
            y.setAtIndex(F, j + 1, d1 * scale.getAtIndex(F, sOff + j + 1));
            y.setAtIndex(F, j + 2, d2 * scale.getAtIndex(F, sOff + j + 2));
            y.setAtIndex(F, j + 3, d3 * scale.getAtIndex(F, sOff + j + 3));
        }
        for (; j < n1; j++) {
            long r0 = qOff + (long) j * k;
            FloatVector s0 = FloatVector.zero(S);
            for (int c = 0; c < kv; c += L) {
                s0 = FloatVector.fromMemorySegment(S, x, xb + (long) c * Float.BYTES, NATIVE)
                        .fma(widen(q, r0 + c), s0);
            }
            float d0 = Lanes.sum(s0);
            for (int c = kv; c < k; c++) {
                d0 = Math.fma(x.getAtIndex(F, xOff + c), q.get(ValueLayout.JAVA_BYTE, r0 + c), d0);
            }
            y.setAtIndex(F, j, d0 * scale.getAtIndex(F, sOff + j));
        }
    }

    /** L int8 weights at a byte offset, widened to floats. */
    private static FloatVector widen(MemorySegment q, long byteOff) {
        return (FloatVector)
                ByteVector.fromMemorySegment(B, q, byteOff, NATIVE).convertShape(VectorOperators.B2F, S, 0);
    }

    /** Channels [n0, n1) for few rows: widen TILE_ROWS × TILE_DEPTH at a time, dot every row with it. */
    private static void smallTile(
            int n0,
            int n1,
            int m,
            int n,
            int k,
            MemorySegment x,
            long xOff,
            MemorySegment q,
            long qOff,
            MemorySegment scale,
            long sOff,
            MemorySegment y,
            float[] acc) {
        int rows = n1 - n0;
        float[] w = SCRATCH.get();
        Arrays.fill(acc, 0, m * TILE_ROWS, 0f);
        for (int k0 = 0; k0 < k; k0 += TILE_DEPTH) {
            int kt = Math.min(TILE_DEPTH, k - k0);
            for (int r = 0; r < rows; r++) {
                widen(q, qOff + (long) (n0 + r) * k + k0, w, r * TILE_DEPTH, kt, 1f);
            }
            int kv = kt / L * L;
            for (int i = 0; i < m; i++) {
                long xr = (xOff + (long) i * k + k0) * Float.BYTES;
                int r = 0;
                for (; r + 4 <= rows; r += 4) {
                    FloatVector s0 = FloatVector.zero(S), s1 = s0, s2 = s0, s3 = s0;
                    int w0 = r * TILE_DEPTH;
                    for (int c = 0; c < kv; c += L) {
                        FloatVector xv = FloatVector.fromMemorySegment(S, x, xr + (long) c * Float.BYTES, NATIVE);
                        s0 = xv.fma(FloatVector.fromArray(S, w, w0 + c), s0);
                        s1 = xv.fma(FloatVector.fromArray(S, w, w0 + TILE_DEPTH + c), s1);
                        s2 = xv.fma(FloatVector.fromArray(S, w, w0 + 2 * TILE_DEPTH + c), s2);
                        s3 = xv.fma(FloatVector.fromArray(S, w, w0 + 3 * TILE_DEPTH + c), s3);
                    }
                    float d0 = Lanes.sum(s0), d1 = Lanes.sum(s1), d2 = Lanes.sum(s2), d3 = Lanes.sum(s3);
                    for (int c = kv; c < kt; c++) {
                        float xc = x.get(F, xr + (long) c * Float.BYTES);
                        d0 = Math.fma(xc, w[w0 + c], d0);
                        d1 = Math.fma(xc, w[w0 + TILE_DEPTH + c], d1);
                        d2 = Math.fma(xc, w[w0 + 2 * TILE_DEPTH + c], d2);
                        d3 = Math.fma(xc, w[w0 + 3 * TILE_DEPTH + c], d3);
                    }
                    acc[i * TILE_ROWS + r] += d0;
                    acc[i * TILE_ROWS + r + 1] += d1;
                    acc[i * TILE_ROWS + r + 2] += d2;
                    acc[i * TILE_ROWS + r + 3] += d3;
                }
                for (; r < rows; r++) {
                    FloatVector s0 = FloatVector.zero(S);
                    int w0 = r * TILE_DEPTH;
                    for (int c = 0; c < kv; c += L) {
                        s0 = FloatVector.fromMemorySegment(S, x, xr + (long) c * Float.BYTES, NATIVE)
                                .fma(FloatVector.fromArray(S, w, w0 + c), s0);
                    }
                    float d0 = Lanes.sum(s0);
                    for (int c = kv; c < kt; c++) {
                        d0 = Math.fma(x.get(F, xr + (long) c * Float.BYTES), w[w0 + c], d0);
                    }
                    acc[i * TILE_ROWS + r] += d0;
                }
            }
        }
        for (int i = 0; i < m; i++) {
            for (int r = 0; r < rows; r++) {
                float s = scale.getAtIndex(F, sOff + n0 + r);
                y.setAtIndex(F, (long) i * n + n0 + r, acc[i * TILE_ROWS + r] * s);
            }
        }
    }

    /** Channels [n0, n1) for many rows: widen them with their scales to f32 [rows × k], then the f32 GEMM. */
    private static void wideTile(
            int n0,
            int n1,
            int m,
            int n,
            int k,
            MemorySegment x,
            long xOff,
            MemorySegment q,
            long qOff,
            MemorySegment scale,
            long sOff,
            MemorySegment y) {
        int rows = n1 - n0;
        MemorySegment ws = wide((long) rows * k);
        for (int r = 0; r < rows; r++) {
            widen(q, qOff + (long) (n0 + r) * k, ws, (long) r * k, k, scale.getAtIndex(F, sOff + n0 + r));
        }
        GemmF32.gemm(false, false, true, m, rows, k, 1f, x, xOff, k, ws, 0, k, 0f, y, n0, n);
    }

    /** dst[off, off + len) = s · (float) q[byteOff, byteOff + len), into native memory. */
    private static void widen(MemorySegment q, long byteOff, MemorySegment dst, long off, int len, float s) {
        int c = 0;
        int step = B.length();
        FloatVector sv = FloatVector.broadcast(S, s);
        for (; c + step <= len; c += L) {
            FloatVector f = (FloatVector)
                    ByteVector.fromMemorySegment(B, q, byteOff + c, NATIVE).convertShape(VectorOperators.B2F, S, 0);
            f.mul(sv).intoMemorySegment(dst, (off + c) * Float.BYTES, NATIVE);
        }
        for (; c < len; c++) {
            dst.setAtIndex(F, off + c, s * q.get(ValueLayout.JAVA_BYTE, byteOff + c));
        }
    }

    /** dst[off, off + len) = s · (float) q[byteOff, byteOff + len). */
    private static void widen(MemorySegment q, long byteOff, float[] dst, int off, int len, float s) {
        int c = 0;
        int step = B.length();
        FloatVector sv = FloatVector.broadcast(S, s);
        for (; c + step <= len; c += L) {
            FloatVector f = (FloatVector)
                    ByteVector.fromMemorySegment(B, q, byteOff + c, NATIVE).convertShape(VectorOperators.B2F, S, 0);
            (s == 1f ? f : f.mul(sv)).intoArray(dst, off + c);
        }
        for (; c < len; c++) {
            dst[off + c] = s * q.get(ValueLayout.JAVA_BYTE, byteOff + c);
        }
    }
}
