package fulgur.cuda.ops.lightning;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.Kernel;
import fulgur.cuda.backend.CudaCopy;
import fulgur.cuda.backend.Gpu;
import fulgur.ops.lightning.LightningKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The CUDA {@link LightningKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}). bf16 inputs with head dims 64 or 128 (no packed sequences) run on the
 * tensor-core kernels of {@link LightningAttention}; everything else (f32 and f64 models, other head dims up to
 * {@link #MAX_DIM}, cuSeqlens) runs on the exact f32 kernel {@code lg_walk} (lightning_generic.cu). Decoding
 * ({@link #recurrent}) advances the f32 state in place with the decode kernels of {@code lightning_decode.cu}
 * ({@code ld_step1_*} for one token, {@code ld_stepn_*} for a few; bf16 or f32 inputs and outputs), which read and
 * write each state element once; value dims not divisible by 4 or unaligned views take {@code lg_walk}.
 */
public final class CudaLightning implements LightningKernels {
    public static final int MAX_DIM = 512;
    private static final String FILE = "lightning_generic.cu";
    private static final int CB = 32, EW = 32, NT = 256;
    private static final String DECODE_FILE = "lightning_decode.cu";
    private static final int DECODE_THREADS = 256, DECODE_MAX_TOKENS = 4;

    private final Gpu g;
    private final LightningAttention tc;
    private final Map<String, Tensor> slopeCache = new ConcurrentHashMap<>();

    public CudaLightning(Gpu g) {
        this.g = g;
        this.tc = new LightningAttention(g.ctx);
    }

    /** The kernels of one device. */
    public static CudaLightning on(fulgur.tensor.Device device) {
        return new CudaLightning(CudaBackend.of(device).gpu());
    }

    /** Whether the tensor-core path applies. */
    public static boolean tensorCores(Tensor q, Tensor k, Tensor v, int[] cuSeqlens) {
        return q.dtype() == DType.BF16
                && k.dtype() == DType.BF16
                && v.dtype() == DType.BF16
                && cuSeqlens == null
                && LightningAttention.supportsHeadDims(q.size(3), v.size(3))
                && q.size(0) <= 65535
                && q.size(2) <= 65535;
    }

    /** The tensor-core kernels. */
    LightningAttention tensorCores() {
        return tc;
    }

    /** The slopes as an f32 device tensor (made once per set of slopes). */
    Tensor slopes(double[] slopes) {
        String key = java.util.Arrays.toString(slopes);
        return slopeCache.computeIfAbsent(key, k -> {
            float[] f = new float[slopes.length];
            for (int i = 0; i < f.length; i++) f[i] = (float) slopes[i];
            Tensor host = Tensor.of(f, f.length);
            Tensor d = fulgur.tensor.Scope.root().run(() -> g.alloc(DType.F32, new int[] {f.length}));
            CudaCopy.copy(g, host, d);
            host.close();
            return d;
        });
    }

    private Tensor cu(int[] cuSeqlens) {
        if (cuSeqlens == null) return null;
        Tensor host = Tensor.ofInts(cuSeqlens, cuSeqlens.length);
        Tensor d = g.alloc(DType.I32, new int[] {cuSeqlens.length});
        CudaCopy.copy(g, host, d);
        host.close();
        return d;
    }

    private static void checkDims(String op, int dk, int dv) {
        if (dk > MAX_DIM || dv > MAX_DIM) {
            throw new IllegalArgumentException(
                    op + " (CUDA): head dims dk=" + dk + ", dv=" + dv + " not supported: the tensor-core kernels take "
                            + "dk, dv in {64, 128} (bf16), the exact f32 kernel any dims up to " + MAX_DIM);
        }
    }

    private static int smem(int dq) {
        return 4 * (2 * CB * (dq + 1) + CB * (EW + 1) + CB * (CB + 1) + dq * EW + CB + 1);
    }

    private void walk(
            Tensor qq,
            Tensor kk,
            Tensor vv,
            Tensor out,
            Tensor s0,
            boolean s0T,
            Tensor sF,
            Tensor cu,
            Tensor slopes,
            int t,
            int h,
            int n,
            int dq,
            int dv,
            boolean reverse,
            float alpha,
            float beta,
            int off,
            float gamma,
            int gOff) {
        String op = "lightning";
        Kernel k = g.kernel(FILE, "lg_walk");
        k.launch(
                g.stream,
                (dv + EW - 1) / EW,
                h,
                n,
                NT,
                smem(dq),
                g.ptr(qq, op),
                g.ptr(kk, op),
                g.ptr(vv, op),
                g.ptr(out, op),
                s0 == null ? null : g.ptr(s0, op),
                s0T ? 1 : 0,
                sF == null ? null : g.ptr(sF, op),
                cu == null ? null : g.ptr(cu, op),
                g.ptr(slopes, op),
                t,
                h,
                dq,
                dv,
                reverse ? 1 : 0,
                alpha,
                beta,
                off,
                gamma,
                gOff);
    }

    private static Tensor flatView(Tensor packed, long from, int[] shape) {
        return Tensor.view(
                packed.storage(), packed.dtype(), shape, Shape.contiguousStrides(shape), packed.offset() + from);
    }

    /**
     * The row stride of x [B, T, H, d] when the tensor-core kernels can read it where it lies: heads packed
     * ([..., H, d] contiguous), sequences T rows apart, rows and base 16-byte aligned (a column slice of a fused
     * projection qualifies); else -1.
     */
    private long tokenStride(Tensor x, String op) {
        int h = x.size(2), d = x.size(3);
        long rs = x.size(1) == 1 && x.size(0) == 1 ? (long) h * d : x.stride(1);
        boolean packed = (d == 1 || x.stride(3) == 1) && (h == 1 || x.stride(2) == d);
        boolean seqs = x.size(0) == 1 || x.stride(0) == (long) x.size(1) * rs;
        boolean aligned = rs % 8 == 0 && rs >= (long) h * d && (g.ptr(x, op).address() & 15) == 0;
        return packed && seqs && aligned ? rs : -1;
    }

    /** x where it lies when {@link #tokenStride} allows, else a contiguous copy. */
    private Tensor tokens(Tensor x, String op) {
        return tokenStride(x, op) >= 0 ? x : g.contiguous(op, x);
    }

    /** Where q, k, v (each as {@link #tokens} left it) lie; the output and the gradients contiguous. */
    private LightningAttention.Layout layout(Tensor q, Tensor k, Tensor v, String op) {
        long hk = (long) q.size(2) * q.size(3), hv = (long) v.size(2) * v.size(3);
        return new LightningAttention.Layout(
                tokenStride(q, op), tokenStride(k, op), tokenStride(v, op), hv, hk, hk, hv, false);
    }

    private void checkAll(String op, Tensor... ts) {
        for (Tensor t : ts) if (t != null) g.check(op, t);
    }

    @Override
    public Tensor forward(
            Tensor q,
            Tensor k,
            Tensor v,
            double[] slopes,
            double scale,
            Tensor s0,
            boolean wantFinalState,
            int blockSize,
            int[] cuSeqlens) {
        String op = "lightning.chunked";
        checkAll(op, q, k, v, s0);
        g.bind();
        int b = q.size(0), t = q.size(1), h = q.size(2), dk = q.size(3), dv = v.size(3);
        int n = cuSeqlens == null ? b : cuSeqlens.length - 1;
        long outNumel = (long) b * t * h * dv;
        long stateNumel = (long) n * h * dk * dv;
        int[] oShape = {b, t, h, dv};
        int[] sShape = {n, h, dk, dv};
        Tensor sl = slopes(slopes);
        boolean tcs = tensorCores(q, k, v, cuSeqlens);
        fulgur.cuda.ops.KernelChoice.note(
                "lightning",
                true,
                (tcs ? "on tensor cores (" : "exact f32 (") + q.dtype() + ", dk " + dk + ", dv " + dv
                        + (cuSeqlens == null ? "" : ", packed sequences") + ")");
        if (tcs) {
            LightningAttention.Shape s = new LightningAttention.Shape(b, t, h, dk, dv);
            Tensor qc = tokens(q, op), kc = tokens(k, op), vc = tokens(v, op);
            LightningAttention.Layout lay = layout(qc, kc, vc, op);
            Tensor s0c = s0 == null ? null : g.contiguousAs(op, s0, DType.F32);
            Tensor packed;
            Tensor o;
            if (wantFinalState) {
                packed = g.alloc(DType.F32, new int[] {Shape.toInt(op, outNumel + stateNumel)});
                o = g.alloc(DType.BF16, oShape);
            } else {
                packed = g.alloc(DType.BF16, new int[] {Shape.toInt(op, outNumel)});
                o = flatView(packed, 0, oShape);
            }
            Tensor fs = wantFinalState ? flatView(packed, outNumel, sShape) : null;
            tc.forward(
                    g.stream,
                    s,
                    lay,
                    tc.defaultSegmentLength(s),
                    g.ptr(qc, op),
                    g.ptr(kc, op),
                    g.ptr(vc, op),
                    g.ptr(o, op),
                    g.ptr(sl, op),
                    (float) scale,
                    s0c == null ? null : g.ptr(s0c, op),
                    fs == null ? null : g.ptr(fs, op),
                    null);
            if (wantFinalState) {
                CudaCopy.deviceCopy(g, o, flatView(packed, 0, oShape));
                o.close();
            }
            Gpu.freeTemp(qc, q);
            Gpu.freeTemp(kc, k);
            Gpu.freeTemp(vc, v);
            if (s0c != null) Gpu.freeTemp(s0c, s0);
            return packed;
        }
        checkDims(op, dk, dv);
        Tensor qc = g.contiguousAs(op, q, DType.F32),
                kc = g.contiguousAs(op, k, DType.F32),
                vc = g.contiguousAs(op, v, DType.F32);
        Tensor s0c = s0 == null ? null : g.contiguousAs(op, s0, DType.F32);
        Tensor cu = cu(cuSeqlens);
        Tensor packed = g.alloc(DType.F32, new int[] {Shape.toInt(op, outNumel + (wantFinalState ? stateNumel : 0))});
        walk(
                qc,
                kc,
                vc,
                flatView(packed, 0, oShape),
                s0c,
                false,
                wantFinalState ? flatView(packed, outNumel, sShape) : null,
                cu,
                sl,
                t,
                h,
                n,
                dk,
                dv,
                false,
                (float) scale,
                (float) scale,
                1,
                1f,
                0);
        Gpu.freeTemp(qc, q);
        Gpu.freeTemp(kc, k);
        Gpu.freeTemp(vc, v);
        if (s0c != null) Gpu.freeTemp(s0c, s0);
        if (cu != null) cu.close();
        return packed;
    }

    @Override
    public Tensor[] backward(
            Tensor q,
            Tensor k,
            Tensor v,
            double[] slopes,
            double scale,
            Tensor s0,
            boolean wantFinalState,
            int blockSize,
            int[] cuSeqlens,
            Tensor packedGrad) {
        String op = "lightning.chunked";
        checkAll(op, q, k, v, s0, packedGrad);
        g.bind();
        int b = q.size(0), t = q.size(1), h = q.size(2), dk = q.size(3), dv = v.size(3);
        int n = cuSeqlens == null ? b : cuSeqlens.length - 1;
        long outNumel = (long) b * t * h * dv;
        int[] oShape = {b, t, h, dv};
        int[] sShape = {n, h, dk, dv};
        Tensor sl = slopes(slopes);
        Tensor pg = g.contiguous(op, packedGrad);
        Tensor dO = flatView(pg, 0, oShape);
        Tensor dST = wantFinalState ? flatView(pg, outNumel, sShape) : null;
        if (tensorCores(q, k, v, cuSeqlens)) {
            LightningAttention.Shape s = new LightningAttention.Shape(b, t, h, dk, dv);
            Tensor qc = tokens(q, op), kc = tokens(k, op), vc = tokens(v, op);
            LightningAttention.Layout lay = layout(qc, kc, vc, op);
            Tensor s0c = s0 == null ? null : g.contiguousAs(op, s0, DType.F32);
            Tensor dOb = g.contiguousAs(op, dO, DType.BF16);
            Tensor dSTf = dST == null ? null : g.contiguousAs(op, dST, DType.F32);
            Tensor dq = g.alloc(DType.BF16, q.shape()),
                    dkk = g.alloc(DType.BF16, k.shape()),
                    dvv = g.alloc(DType.BF16, v.shape());
            Tensor ds0 = s0 == null ? null : g.alloc(DType.F32, sShape);
            tc.backward(
                    g.stream,
                    s,
                    lay,
                    tc.defaultSegmentLength(s),
                    g.ptr(qc, op),
                    g.ptr(kc, op),
                    g.ptr(vc, op),
                    g.ptr(dOb, op),
                    g.ptr(sl, op),
                    (float) scale,
                    s0c == null ? null : g.ptr(s0c, op),
                    dSTf == null ? null : g.ptr(dSTf, op),
                    null,
                    g.ptr(dq, op),
                    g.ptr(dkk, op),
                    g.ptr(dvv, op),
                    ds0 == null ? null : g.ptr(ds0, op),
                    null,
                    0,
                    null,
                    0);
            Gpu.freeTemp(qc, q);
            Gpu.freeTemp(kc, k);
            Gpu.freeTemp(vc, v);
            if (s0c != null) Gpu.freeTemp(s0c, s0);
            if (dOb != dO && dOb.storage() != pg.storage()) dOb.close();
            if (dSTf != null && dSTf.storage() != pg.storage()) dSTf.close();
            Gpu.freeTemp(pg, packedGrad);
            return new Tensor[] {dq, dkk, dvv, ds0};
        }
        checkDims(op, dk, dv);
        Tensor qc = g.contiguousAs(op, q, DType.F32),
                kc = g.contiguousAs(op, k, DType.F32),
                vc = g.contiguousAs(op, v, DType.F32);
        Tensor s0c = s0 == null ? null : g.contiguousAs(op, s0, DType.F32);
        Tensor dOf = g.contiguousAs(op, dO, DType.F32);
        Tensor dSTf = dST == null ? null : g.contiguousAs(op, dST, DType.F32);
        Tensor cu = cu(cuSeqlens);
        Tensor dq = g.alloc(DType.F32, q.shape()),
                dkk = g.alloc(DType.F32, k.shape()),
                dvv = g.alloc(DType.F32, v.shape());
        Tensor ds0 = s0 == null ? null : g.alloc(DType.F32, sShape);
        float sc = (float) scale;
        // dQ = walk(dO, V, K) from S0ᵀ
        walk(dOf, vc, kc, dq, s0c, true, null, cu, sl, t, h, n, dv, dk, false, sc, sc, 1, 0f, 0);
        // dV = reverse walk(K, Q, dO) from dS_T; its final state is dS0
        walk(kc, qc, dOf, dvv, dSTf, false, ds0, cu, sl, t, h, n, dk, dv, true, sc, 1f, 0, sc, 1);
        // dK = reverse walk(V, dO, Q) from dS_Tᵀ
        walk(vc, dOf, qc, dkk, dSTf, true, null, cu, sl, t, h, n, dv, dk, true, sc, 1f, 0, 0f, 0);
        Gpu.freeTemp(qc, q);
        Gpu.freeTemp(kc, k);
        Gpu.freeTemp(vc, v);
        if (s0c != null) Gpu.freeTemp(s0c, s0);
        if (dOf.storage() != pg.storage()) dOf.close();
        if (dSTf != null && dSTf.storage() != pg.storage()) dSTf.close();
        Gpu.freeTemp(pg, packedGrad);
        if (cu != null) cu.close();
        return new Tensor[] {dq, dkk, dvv, ds0};
    }

    @Override
    public Tensor recurrent(Tensor q, Tensor k, Tensor v, double[] slopes, double scale, Tensor state) {
        String op = "lightning.recurrent";
        checkAll(op, q, k, v, state);
        if (state.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + " (CUDA): the state must be f32, got " + state.describe());
        }
        g.bind();
        int b = q.size(0), t = q.size(1), h = q.size(2), dk = q.size(3), dv = v.size(3);
        checkDims(op, dk, dv);
        Tensor sl = slopes(slopes);
        // bf16 stays bf16 (the decode kernel reads and writes it); anything else computes in f32
        DType io =
                q.dtype() == DType.BF16 && k.dtype() == DType.BF16 && v.dtype() == DType.BF16 ? DType.BF16 : DType.F32;
        Tensor qc = g.contiguousAs(op, q, io), kc = g.contiguousAs(op, k, io), vc = g.contiguousAs(op, v, io);
        Tensor out;
        if (decodeKernelFits(qc, kc, vc, state, b, h, dv)) {
            out = g.alloc(io, new int[] {b, t, h, dv});
            decode(qc, kc, vc, out, state, sl, t, h, b, dk, dv, (float) scale);
        } else {
            Tensor qf = g.contiguousAs(op, qc, DType.F32),
                    kf = g.contiguousAs(op, kc, DType.F32),
                    vf = g.contiguousAs(op, vc, DType.F32);
            out = g.alloc(DType.F32, new int[] {b, t, h, dv});
            walk(
                    qf,
                    kf,
                    vf,
                    out,
                    state,
                    false,
                    state,
                    null,
                    sl,
                    t,
                    h,
                    b,
                    dk,
                    dv,
                    false,
                    (float) scale,
                    (float) scale,
                    1,
                    1f,
                    0);
            Gpu.freeTemp(qf, qc);
            Gpu.freeTemp(kf, kc);
            Gpu.freeTemp(vf, vc);
        }
        Gpu.freeTemp(qc, q);
        Gpu.freeTemp(kc, k);
        Gpu.freeTemp(vc, v);
        return out;
    }

    /** Whether the decode kernel applies: column quads (dv % 4 == 0) and 16-byte aligned rows, the batch within a grid's z. */
    private boolean decodeKernelFits(Tensor q, Tensor k, Tensor v, Tensor state, int b, int h, int dv) {
        if (dv % 4 != 0 || q.size(3) % 4 != 0 || b > 65535 || h > 65535 || !state.isContiguous()) return false;
        String op = "lightning.recurrent";
        for (Tensor x : new Tensor[] {q, k, v, state}) {
            if ((g.ptr(x, op).address() & 15) != 0) return false;
        }
        return true;
    }

    /**
     * The decode kernel ({@code lightning_decode.cu}): one read and one write of each state element per call. A block
     * is 256 threads, {@code bx} column quads by {@code 256 / bx} row groups.
     */
    private void decode(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor state,
            Tensor slopes,
            int t,
            int h,
            int b,
            int dk,
            int dv,
            float scale) {
        String op = "lightning.recurrent";
        int quads = dv / 4;
        int bx = 1;
        while (bx < quads && bx < 32) bx <<= 1;
        int by = DECODE_THREADS / bx;
        int tc = t == 1 ? 1 : DECODE_MAX_TOKENS;
        int smem = 4 * 2 * tc * dk + 16 * by * tc * bx;
        String name = (t == 1 ? "ld_step1_" : "ld_stepn_") + (q.dtype() == DType.BF16 ? "bf16" : "f32");
        Object[] args = {
            g.ptr(q, op),
            g.ptr(k, op),
            g.ptr(v, op),
            g.ptr(out, op),
            g.ptr(state, op),
            g.ptr(slopes, op),
            t,
            h,
            dk,
            dv,
            scale
        };
        g.kernel(DECODE_FILE, name).launch(g.stream, (quads + bx - 1) / bx, h, b, bx, by, 1, smem, args);
    }
}
