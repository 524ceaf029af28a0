package fulgur.ops.lightning;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Bulk moves between off-heap segments (native-order f32 or f64, offset 0, contiguous) and heap arrays. */
final class LightningIo {

    static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private LightningIo() {}

    /** The whole segment as doubles; {@code f64} says whether it holds doubles or floats. */
    static double[] readAll(MemorySegment seg, boolean f64) {
        if (f64) {
            return seg.toArray(F64);
        }
        float[] f = seg.toArray(F32);
        double[] out = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            out[i] = f[i];
        }
        return out;
    }

    /** Writes all of {@code src} to the segment, rounding to f32 unless {@code f64}. */
    static void writeAll(MemorySegment seg, double[] src, boolean f64) {
        if (f64) {
            MemorySegment.copy(src, 0, seg, F64, 0, src.length);
            return;
        }
        float[] f = new float[src.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) src[i];
        }
        MemorySegment.copy(f, 0, seg, F32, 0, f.length);
    }

    /** Copies {@code count} floats starting at element {@code index} of the segment into {@code dst[dstOff..]}. */
    static void load(MemorySegment seg, long index, float[] dst, int dstOff, int count) {
        MemorySegment.copy(seg, F32, index * Float.BYTES, dst, dstOff, count);
    }

    /** Copies {@code count} floats from {@code src[srcOff..]} to the segment starting at element {@code index}. */
    static void store(float[] src, int srcOff, MemorySegment seg, long index, int count) {
        MemorySegment.copy(src, srcOff, seg, F32, index * Float.BYTES, count);
    }

    static void load(MemorySegment seg, long index, double[] dst, int dstOff, int count) {
        MemorySegment.copy(seg, F64, index * Double.BYTES, dst, dstOff, count);
    }

    static void store(double[] src, int srcOff, MemorySegment seg, long index, int count) {
        MemorySegment.copy(src, srcOff, seg, F64, index * Double.BYTES, count);
    }
}
