package fulgur.backend.cpu;

import fulgur.tensor.DType;
import fulgur.tensor.Elements;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Strided copies with dtype conversion (the engine of contiguous(), casts and transfers). */
final class CpuCopy {
    private CpuCopy() {}

    static void copy(Tensor src, Tensor dst) {
        if (!src.sameShape(dst)) {
            throw new IllegalArgumentException(
                    "copy: shape " + Shape.str(src.shape()) + " does not match destination " + dst.describe());
        }
        long n = src.numel();
        if (n == 0) {
            return;
        }
        MemorySegment s = src.hostSegment("copy");
        MemorySegment d = dst.hostSegment("copy");
        DType st = src.dtype();
        DType dt = dst.dtype();
        if (src.isContiguous() && dst.isContiguous()) {
            copyRun(s, st, src.offset(), 1, d, dt, dst.offset(), 1, n);
            return;
        }
        Strided it = Strided.of(dst.shape(), src.strides(), dst.strides());
        long rows = it.rows();
        int inner = it.inner();
        long ss = it.innerStride(0);
        long ds = it.innerStride(1);
        long so = src.offset();
        long dOff = dst.offset();
        Parallel.forRange(Shape.toInt("copy", rows), Math.max(1, 16384 / Math.max(1, inner)), (r0, r1) -> {
            long[] offs = new long[2];
            for (int r = r0; r < r1; r++) {
                it.offsets(r, offs);
                copyRun(s, st, so + offs[0], ss, d, dt, dOff + offs[1], ds, inner);
            }
        });
    }

    /** Copies n elements from s[sOff + i·sStride] to d[dOff + i·dStride], converting dtypes. */
    static void copyRun(
            MemorySegment s,
            DType st,
            long sOff,
            long sStride,
            MemorySegment d,
            DType dt,
            long dOff,
            long dStride,
            long n) {
        if (st == dt && sStride == 1 && dStride == 1) {
            MemorySegment.copy(s, sOff * st.byteSize(), d, dOff * dt.byteSize(), n * st.byteSize());
            return;
        }
        if (st == DType.F32 && dt == DType.F32) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(
                        ValueLayout.JAVA_FLOAT,
                        dOff + i * dStride,
                        s.getAtIndex(ValueLayout.JAVA_FLOAT, sOff + i * sStride));
            }
            return;
        }
        // f32 ↔ f64 (the CPU kernels that work in double convert their inputs and results): a loop with constant
        // layouts, which the generic per-element dispatch below is not (it ran at a fifth of the speed)
        if (st == DType.F32 && dt == DType.F64) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(
                        ValueLayout.JAVA_DOUBLE,
                        dOff + i * dStride,
                        s.getAtIndex(ValueLayout.JAVA_FLOAT, sOff + i * sStride));
            }
            return;
        }
        if (st == DType.F64 && dt == DType.F32) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(ValueLayout.JAVA_FLOAT, dOff + i * dStride, (float)
                        s.getAtIndex(ValueLayout.JAVA_DOUBLE, sOff + i * sStride));
            }
            return;
        }
        if (st == DType.BF16 && dt == DType.F32) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(
                        ValueLayout.JAVA_FLOAT,
                        dOff + i * dStride,
                        Elements.bf16ToFloat(s.getAtIndex(ValueLayout.JAVA_SHORT, sOff + i * sStride)));
            }
            return;
        }
        if (st == DType.F32 && dt == DType.BF16) {
            for (long i = 0; i < n; i++) {
                d.setAtIndex(
                        ValueLayout.JAVA_SHORT,
                        dOff + i * dStride,
                        Elements.floatToBf16(s.getAtIndex(ValueLayout.JAVA_FLOAT, sOff + i * sStride)));
            }
            return;
        }
        boolean ints = !st.isFloating() && !dt.isFloating();
        for (long i = 0; i < n; i++) {
            if (ints) {
                Elements.setLong(d, dt, dOff + i * dStride, Elements.getLong(s, st, sOff + i * sStride));
            } else {
                Elements.set(d, dt, dOff + i * dStride, Elements.get(s, st, sOff + i * sStride));
            }
        }
    }

    static void fill(Tensor dst, double value) {
        MemorySegment d = dst.hostSegment("fill");
        DType dt = dst.dtype();
        if (dst.isContiguous()) {
            long n = dst.numel();
            long off = dst.offset();
            if (value == 0) {
                d.asSlice(off * dt.byteSize(), n * dt.byteSize()).fill((byte) 0);
                return;
            }
            switch (dt) {
                case F32 -> {
                    float v = (float) value;
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(ValueLayout.JAVA_FLOAT, off + i, v);
                    }
                }
                case F64 -> {
                    for (long i = 0; i < n; i++) {
                        d.setAtIndex(ValueLayout.JAVA_DOUBLE, off + i, value);
                    }
                }
                default -> {
                    for (long i = 0; i < n; i++) {
                        Elements.set(d, dt, off + i, value);
                    }
                }
            }
            return;
        }
        long n = dst.numel();
        for (long i = 0; i < n; i++) {
            Elements.set(d, dt, dst.storageIndex(i), value);
        }
    }
}
