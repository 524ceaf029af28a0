package fulgur.cuda.backend;

import fulgur.ops.adamw.AdamWKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Concatenation, gather/scatter, index select/add, dropout masks and the fused AdamW updates (per parameter and over all). */
public final class CudaIndexing {
    private CudaIndexing() {}

    static final String TENSOR = "tensor.cu";

    static Tensor narrowRaw(Tensor t, int axis, int start, int len) {
        int[] s = t.shape();
        s[axis] = len;
        return Tensor.view(t.storage(), t.dtype(), s, t.strides(), t.offset() + start * t.stride(axis));
    }

    /** Strides with the axis' stride zeroed. */
    private static long[] zeroAxis(long[] st, int axis) {
        long[] r = st.clone();
        r[axis] = 0;
        return r;
    }

    public static Tensor gather(Gpu g, Tensor x, int axis, Tensor index) {
        String op = "gather";
        g.check(op, x);
        Tensor idx = g.index(op, index);
        if (index.ndim() != x.ndim()) {
            throw new IllegalArgumentException(
                    op + ": index " + index.describe() + " must have the rank of " + x.describe());
        }
        int[] is = index.shape();
        for (int i = 0; i < is.length; i++) {
            if (i != axis && is[i] > x.size(i)) {
                throw new IllegalArgumentException(
                        op + ": index " + index.describe() + " is larger than " + x.describe() + " in dimension " + i);
            }
        }
        g.bind();
        Tensor out = g.alloc(x.dtype(), is);
        long n = out.numel();
        if (n > 0) {
            int len = x.size(axis);
            Desc d = Desc.exact(op, is, zeroAxis(x.strides(), axis), idx.strides());
            Gpu.Flag err = g.errorFlag();
            g.launch(
                    g.kernel(TENSOR, "t_gather"),
                    n,
                    d.struct(),
                    g.ptr(x, op),
                    x.dtype().byteSize(),
                    x.stride(axis),
                    (long) len,
                    g.ptr(idx, op),
                    Gpu.code(idx.dtype()),
                    g.ptr(out, op),
                    n,
                    err);
            String what = x.describe();
            try {
                g.checkFlag(err, idx, outOfRange(op, len, axis, " of " + what));
            } finally {
                Gpu.freeTemp(idx, index);
            }
            return out;
        }
        Gpu.freeTemp(idx, index);
        return out;
    }

    public static Tensor scatterAdd(Gpu g, int[] shape, int axis, Tensor index, Tensor src) {
        String op = "scatterAdd";
        g.check(op, src);
        Tensor idx = g.index(op, index);
        if (!index.sameShape(src)) {
            throw new IllegalArgumentException(
                    op + ": index " + index.describe() + " and source " + src.describe() + " differ in shape");
        }
        if (index.ndim() != shape.length) {
            throw new IllegalArgumentException(
                    op + ": index " + index.describe() + " must have the rank of the target shape " + Shape.str(shape));
        }
        for (int i = 0; i < shape.length; i++) {
            if (i != axis && index.size(i) > shape[i]) {
                throw new IllegalArgumentException(op + ": index " + index.describe()
                        + " is larger than the target shape " + Shape.str(shape) + " in dimension " + i);
            }
        }
        g.bind();
        DType mt = CudaElementwise.mathType(src.dtype());
        Tensor out = g.zeros(mt, shape);
        long n = src.numel();
        if (n > 0) {
            int len = shape[axis];
            Desc d = Desc.exact(op, index.shape(), zeroAxis(out.strides(), axis), idx.strides(), src.strides());
            Gpu.Flag err = g.errorFlag();
            g.launch(
                    g.kernel(TENSOR, "t_scatter_add"),
                    n,
                    d.struct(),
                    g.ptr(out, op),
                    Gpu.code(mt),
                    out.stride(axis),
                    (long) len,
                    g.ptr(idx, op),
                    Gpu.code(idx.dtype()),
                    g.ptr(src, op),
                    Gpu.code(src.dtype()),
                    n,
                    err);
            try {
                g.checkFlag(err, idx, outOfRange(op, len, axis, ""));
            } finally {
                Gpu.freeTemp(idx, index);
            }
            return g.convert(out, src.dtype());
        }
        Gpu.freeTemp(idx, index);
        return g.convert(out, src.dtype());
    }

    /** A 1-D integer index on the device with every entry in [0, len). */
    private static Tensor checkIndex(Gpu g, String op, Tensor index, int len, int axis) {
        Tensor idx = g.index(op, index);
        if (index.ndim() != 1)
            throw new IllegalArgumentException(op + ": expected a 1-D index, got " + index.describe());
        long n = idx.numel();
        if (n > 0) {
            Gpu.Flag err = g.errorFlag();
            g.launch(
                    g.kernel(TENSOR, "t_check_index"),
                    n,
                    g.ptr(idx, op),
                    Gpu.code(idx.dtype()),
                    n,
                    0L,
                    (long) len,
                    Long.MIN_VALUE,
                    err);
            try {
                g.checkFlag(err, idx, outOfRange(op, len, axis, ""));
            } catch (RuntimeException e) {
                Gpu.freeTemp(idx, index);
                throw e;
            }
        }
        return idx;
    }

    /** "op: index 7 out of range [0, 5) along axis 0" (the value is left out when a deferred check no longer has it). */
    private static DeviceChecks.Failure outOfRange(String op, int len, int axis, String suffix) {
        return (value, at) ->
                new IndexOutOfBoundsException(op + ": index " + (value == null ? "at position " + at : value)
                        + " out of range [0, " + len + ") along axis " + axis + suffix);
    }

    public static Tensor indexSelect(Gpu g, Tensor x, int axis, Tensor index) {
        String op = "indexSelect";
        g.check(op, x);
        Tensor idx = checkIndex(g, op, index, x.size(axis), axis);
        g.bind();
        int[] os = x.shape();
        os[axis] = Shape.toInt(op, idx.numel());
        Tensor out = g.alloc(x.dtype(), os);
        long n = out.numel();
        if (n > 0) {
            long[] is = new long[os.length];
            is[axis] = idx.stride(0);
            Desc d = Desc.exact(op, os, zeroAxis(x.strides(), axis), is);
            g.launch(
                    g.kernel(TENSOR, "t_index_select"),
                    n,
                    d.struct(),
                    g.ptr(x, op),
                    x.dtype().byteSize(),
                    x.stride(axis),
                    g.ptr(idx, op),
                    Gpu.code(idx.dtype()),
                    g.ptr(out, op),
                    n);
        }
        Gpu.freeTemp(idx, index);
        return out;
    }

    public static Tensor indexAdd(Gpu g, int[] shape, int axis, Tensor index, Tensor src) {
        String op = "indexAdd";
        g.check(op, src);
        Tensor idx = checkIndex(g, op, index, shape[axis], axis);
        int[] ss = src.shape();
        boolean ok = ss.length == shape.length && ss[axis] >= idx.numel();
        for (int i = 0; ok && i < ss.length; i++) ok = i == axis || ss[i] == shape[i];
        if (!ok) {
            Gpu.freeTemp(idx, index);
            throw new IllegalArgumentException(op + ": source " + src.describe() + " does not match target shape "
                    + Shape.str(shape) + " with " + idx.numel() + " indices along axis " + axis);
        }
        g.bind();
        DType mt = CudaElementwise.mathType(src.dtype());
        Tensor out = g.zeros(mt, shape);
        int[] it = ss.clone();
        it[axis] = Shape.toInt(op, idx.numel());
        long n = Shape.numel(it);
        if (n > 0) {
            long[] is = new long[ss.length];
            is[axis] = idx.stride(0);
            Desc d = Desc.exact(op, it, zeroAxis(out.strides(), axis), is, src.strides());
            g.launch(
                    g.kernel(TENSOR, "t_scatter_add"),
                    n,
                    d.struct(),
                    g.ptr(out, op),
                    Gpu.code(mt),
                    out.stride(axis),
                    (long) shape[axis],
                    g.ptr(idx, op),
                    Gpu.code(idx.dtype()),
                    g.ptr(src, op),
                    Gpu.code(src.dtype()),
                    n,
                    null);
        }
        Gpu.freeTemp(idx, index);
        return g.convert(out, src.dtype());
    }

    public static Tensor dropoutMask(Gpu g, Tensor like, double p, long stream) {
        g.check("dropout", like);
        g.bind();
        DType dt = like.dtype().isFloating() ? like.dtype() : DType.F32;
        Tensor out = g.alloc(dt, like.shape());
        long n = out.numel();
        g.launch(g.kernel(TENSOR, "t_dropout_mask"), n, g.ptr(out, "dropout"), Gpu.code(dt), n, stream, p, 1 / (1 - p));
        return out;
    }

    public static void adamw(
            Gpu g,
            Tensor param,
            Tensor grad,
            Tensor m,
            Tensor v,
            Tensor schedule,
            double lrScale,
            double beta1,
            double beta2,
            double eps,
            double wd) {
        String op = "adamw";
        for (Tensor t : new Tensor[] {param, grad, m, v, schedule}) g.check(op, t);
        for (Tensor t : new Tensor[] {grad, m, v}) {
            if (!t.sameShape(param))
                throw new IllegalArgumentException(
                        op + ": " + t.describe() + " does not match parameter " + param.describe());
        }
        if (!param.isContiguous() || !m.isContiguous() || !v.isContiguous()) {
            throw new IllegalArgumentException(op + ": parameter and moments must be contiguous");
        }
        if (schedule.dtype() != DType.F64 || schedule.numel() != 3 || !schedule.isContiguous()) {
            throw new IllegalArgumentException(
                    op + ": schedule must be a contiguous f64 tensor [3] (lr, 1 - beta1^t, 1 - beta2^t), got "
                            + schedule.describe());
        }
        g.bind();
        long n = param.numel();
        Tensor gr = g.contiguous(op, grad);
        if (param.dtype() == DType.F32 && m.dtype() == DType.F32 && v.dtype() == DType.F32) {
            g.launch(
                    g.kernel(TENSOR, "t_adamw_f32"),
                    n,
                    g.ptr(param, op),
                    g.ptr(gr, op),
                    Gpu.code(gr.dtype()),
                    g.ptr(m, op),
                    g.ptr(v, op),
                    n,
                    g.ptr(schedule, op),
                    lrScale,
                    wd,
                    (float) beta1,
                    (float) beta2,
                    (float) (1 - beta1),
                    (float) (1 - beta2),
                    (float) eps);
        } else {
            g.launch(
                    g.kernel(TENSOR, "t_adamw_any"),
                    n,
                    g.ptr(param, op),
                    Gpu.code(param.dtype()),
                    g.ptr(gr, op),
                    Gpu.code(gr.dtype()),
                    g.ptr(m, op),
                    Gpu.code(m.dtype()),
                    g.ptr(v, op),
                    Gpu.code(v.dtype()),
                    n,
                    g.ptr(schedule, op),
                    lrScale,
                    wd,
                    beta1,
                    beta2,
                    eps);
        }
        Gpu.freeTemp(gr, grad);
    }

    /** Elements per block of the multi-tensor AdamW. */
    static final int ADAMW_CHUNK = 16384;

    /**
     * AdamW over all slots: f32 parameters with f32 moments in one launch (a table of the slots and a block map uploaded
     * with the launch, so a captured step keeps them as constants), the others one kernel each.
     */
    /** Words (8 bytes) per parameter in t_adamw_all_f32's table: AdamSlot in tensor.cu. */
    private static final int SLOT_WORDS = 10;

    public static void adamwAll(
            Gpu g, List<AdamWKernels.Slot> slots, Tensor schedule, double beta1, double beta2, double eps) {
        String op = "adamw";
        List<AdamWKernels.Slot> fused = new ArrayList<>();
        for (AdamWKernels.Slot s : slots) {
            boolean f32 = s.param().dtype() == DType.F32
                    && s.m().dtype() == DType.F32
                    && s.v().dtype() == DType.F32
                    && s.param().numel() > 0;
            if (f32) {
                fused.add(s);
            } else {
                adamw(g, s.param(), s.grad(), s.m(), s.v(), schedule, s.lrScale(), beta1, beta2, eps, s.weightDecay());
                if (s.copy() != null) s.copy().copyFrom(s.param());
            }
        }
        if (fused.isEmpty()) return;
        if (schedule.dtype() != DType.F64 || schedule.numel() != 3 || !schedule.isContiguous()) {
            throw new IllegalArgumentException(
                    op + ": schedule must be a contiguous f64 tensor [3] (lr, 1 - beta1^t, 1 - beta2^t), got "
                            + schedule.describe());
        }
        g.check(op, schedule);
        g.bind();
        List<Tensor> temps = new ArrayList<>();
        long[] table = new long[SLOT_WORDS * fused.size()];
        int blocks = 0;
        for (int i = 0; i < fused.size(); i++) {
            AdamWKernels.Slot s = fused.get(i);
            for (Tensor t : new Tensor[] {s.param(), s.grad(), s.m(), s.v()}) g.check(op, t);
            if (s.copy() != null) {
                g.check(op, s.copy());
                if (!s.copy().isContiguous() || !s.copy().sameShape(s.param()))
                    throw new IllegalArgumentException(
                            op + ": copy " + s.copy().describe() + " must be contiguous and of the parameter's shape "
                                    + s.param().describe());
            }
            for (Tensor t : new Tensor[] {s.grad(), s.m(), s.v()}) {
                if (!t.sameShape(s.param()))
                    throw new IllegalArgumentException(op + ": " + t.describe() + " does not match parameter "
                            + s.param().describe());
            }
            if (!s.param().isContiguous() || !s.m().isContiguous() || !s.v().isContiguous()) {
                throw new IllegalArgumentException(op + ": parameter and moments must be contiguous");
            }
            Tensor gr = g.contiguous(op, s.grad());
            if (gr != s.grad()) temps.add(gr);
            long n = s.param().numel();
            int at = SLOT_WORDS * i;
            table[at] = g.ptr(s.param(), op).address();
            table[at + 1] = g.ptr(gr, op).address();
            table[at + 2] = g.ptr(s.m(), op).address();
            table[at + 3] = g.ptr(s.v(), op).address();
            table[at + 4] = n;
            table[at + 5] = Double.doubleToRawLongBits(s.lrScale());
            table[at + 6] = Double.doubleToRawLongBits(s.weightDecay());
            table[at + 7] = Gpu.code(gr.dtype());
            table[at + 8] = s.copy() == null ? 0 : g.ptr(s.copy(), op).address();
            table[at + 9] = s.copy() == null ? 0 : Gpu.code(s.copy().dtype());
            blocks = Math.addExact(blocks, (int) ((n + ADAMW_CHUNK - 1) / ADAMW_CHUNK));
        }
        int[] map = new int[2 * blocks];
        int b = 0;
        for (int i = 0; i < fused.size(); i++) {
            long chunks = (fused.get(i).param().numel() + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
            for (int c = 0; c < chunks; c++, b++) {
                map[2 * b] = i;
                map[2 * b + 1] = c;
            }
        }
        Tensor slotsDev = Tensor.ofLongs(table, table.length).to(g.device);
        Tensor mapDev = Tensor.ofInts(map, map.length).to(g.device);
        g.kernel(TENSOR, "t_adamw_all_f32")
                .launch(
                        g.stream,
                        blocks,
                        1,
                        1,
                        Gpu.THREADS,
                        0,
                        g.ptr(slotsDev, op),
                        g.ptr(mapDev, op),
                        g.ptr(schedule, op),
                        (float) beta1,
                        (float) beta2,
                        (float) (1 - beta1),
                        (float) (1 - beta2),
                        (float) eps,
                        ADAMW_CHUNK);
        slotsDev.close();
        mapDev.close();
        temps.forEach(Tensor::close);
    }
}
