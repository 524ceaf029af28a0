package fulgur.cuda.ops.gla;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.SequenceTables;
import fulgur.cuda.ops.Sequences;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.Map;

/**
 * Gated linear attention on the GPU, fla's {@code chunk_gla} / {@code fused_recurrent_gla} semantics:
 * <pre>
 *   S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t      o_t = scale * q_t S_t      (g &lt;= 0, per key channel)
 * </pre>
 * q, k, g {@code [B, T, H, K]}, v {@code [B, T, H, V]}, states {@code [N, H, K, V]} f32 (N = B, or the number of
 * packed sequences with {@code cuSeqlens}, B = 1; a sequence may be empty, its final state then its initial state).
 * Inputs contiguous on this launcher's device.
 *
 * <p>Two kernel families (the choice is {@link #tensorCores}): bf16 q, k, v with K ≤ 128 and K, V multiples of 8 run
 * on the chunked tensor-core kernels of {@code gla.cu} (blocks of 64 tokens, value tiles of 64 columns, LASP-2
 * segments with the running state on chip; bf16 outputs, dq/dk from f32 partial sums, dg from them block by block);
 * everything else (f32 inputs, K up to 256, any V) on the exact f32 token-by-token kernels of {@code gla_recurrent.cu},
 * which also decode. g may be bf16 or f32 either way; dq, dk, dv return in q's dtype and dg always in f32 (a
 * difference of large terms: the caller casts it to g's dtype if it wants).
 */
public final class GlaLauncher {
    public static final int BLOCK = 64, VALUE_TILE = 64, MAX_K_TC = 128, MAX_K = 256;
    private static final int THREADS = 256;

    /**
     * Bytes of a {@link #phaseProfile} buffer: for each walk (forward, forward's local states, dq, dk/dv, dk/dv's local
     * gradient states, in that order) [2 threads][1024 blocks][16 phases] clock64 stamps of its first CTA.
     */
    public static final long PROFILE_BYTES = 5L * 2 * 1024 * 16 * 8;

    private static final long PROFILE_REGION = PROFILE_BYTES / 5;
    private final DeviceTensors dt;
    private int segLen;
    private final SequenceTables tables;
    private DevicePointer prof;

    public GlaLauncher(DeviceTensors dt) {
        this.dt = dt;
        this.tables = new SequenceTables(dt);
    }

    public static GlaLauncher of(CudaBackend backend) {
        return new GlaLauncher(DeviceTensors.of(backend));
    }

    public DeviceTensors tensors() {
        return dt;
    }

    /**
     * With a buffer of {@link #PROFILE_BYTES} (zeroed by the caller), the tensor-core walks record the clock at each
     * phase boundary of each block their first CTA walks (gla.cu's PROF); null (default) turns it off.
     */
    public GlaLauncher phaseProfile(DevicePointer buffer) {
        this.prof = buffer;
        return this;
    }

    /** The profile region of walk w (0 forward, 1 forward's local states, 2 dq, 3 dk/dv, 4 dk/dv's local states), or null. */
    private DevicePointer prof(int w) {
        return prof == null ? null : prof.plus(w * PROFILE_REGION);
    }

    /** Tokens per segment of the tensor-core kernels (a multiple of 64), or 0 (default) to fill the GPU. */
    public GlaLauncher segmentLength(int tokens) {
        if (tokens < 0 || tokens % BLOCK != 0) {
            throw new IllegalArgumentException(
                    "gla: segment length must be 0 (automatic) or a positive multiple of " + BLOCK + ", got " + tokens);
        }
        this.segLen = tokens;
        return this;
    }

    /** Output and final state (null unless asked for). */
    public record Output(Tensor output, Tensor finalState) {}

    /** Gradients of q, k, v (q's dtype), g (f32) and the initial state (null without one). */
    public record Gradients(Tensor dq, Tensor dk, Tensor dv, Tensor dg, Tensor dInitialState) {}

    /** Problem dimensions after validation. */
    public record Dims(int batch, int seqLen, int heads, int k, int v, int[] cu) {
        int sequences() {
            return cu.length - 1;
        }
    }

    /** Whether the tensor-core kernels take these inputs. */
    public static boolean tensorCores(DType qkv, int k, int v) {
        return qkv == DType.BF16 && k <= MAX_K_TC && k % 8 == 0 && v % 8 == 0;
    }

    /**
     * Validates shapes, dtypes and cu_seqlens (no device access): q, k, g [B, T, H, K], v [B, T, H, V], initial state
     * [N, H, K, V] f32; q, k, v one dtype (bf16 or f32), g bf16 or f32; K ≤ 256; cu_seqlens not decreasing.
     */
    public static Dims validate(
            String op, Tensor q, Tensor k, Tensor v, Tensor g, Tensor initialState, int[] cuSeqlens) {
        String[] names = {"q", "k", "v", "g"};
        Tensor[] ts = {q, k, v, g};
        for (int i = 0; i < 4; i++) {
            if (ts[i] == null) throw new IllegalArgumentException(op + ": " + names[i] + " must not be null");
            if (ts[i].ndim() != 4)
                throw new IllegalArgumentException(
                        op + ": " + names[i] + " must be [B, T, H, D], got " + ts[i].describe());
        }
        int[] s = q.shape();
        int b = s[0], t = s[1], h = s[2], kd = s[3], vd = v.size(3);
        if (!Arrays.equals(k.shape(), s))
            throw new IllegalArgumentException(op + ": k " + k.describe() + " does not match q " + q.describe());
        if (!Arrays.equals(g.shape(), s))
            throw new IllegalArgumentException(op + ": g " + g.describe() + " does not match q " + q.describe());
        if (v.size(0) != b || v.size(1) != t || v.size(2) != h) {
            throw new IllegalArgumentException(
                    op + ": v " + v.describe() + " does not match q " + q.describe() + " (expected [B, T, H, V])");
        }
        if (b < 1 || t < 1 || h < 1 || kd < 1 || vd < 1)
            throw new IllegalArgumentException(op + ": empty input " + q.describe() + ", v " + v.describe());
        if (q.dtype() != DType.BF16 && q.dtype() != DType.F32) {
            throw new IllegalArgumentException(op + ": q, k, v must be bf16 or f32, got " + q.describe());
        }
        if (k.dtype() != q.dtype() || v.dtype() != q.dtype()) {
            throw new IllegalArgumentException(
                    op + ": q, k, v must share one dtype, got " + q.dtype() + ", " + k.dtype() + ", " + v.dtype());
        }
        if (g.dtype() != DType.BF16 && g.dtype() != DType.F32)
            throw new IllegalArgumentException(op + ": g must be bf16 or f32, got " + g.describe());
        if (kd > MAX_K)
            throw new IllegalArgumentException(op + ": key head dim K=" + kd + " is above the supported " + MAX_K);
        if (h > 65535) throw new IllegalArgumentException(op + ": H=" + h + " heads is above 65535");
        int[] cu = Sequences.starts(op, b, t, cuSeqlens, true);
        if (initialState != null) {
            int[] want = {cu.length - 1, h, kd, vd};
            if (!Arrays.equals(initialState.shape(), want) || initialState.dtype() != DType.F32) {
                throw new IllegalArgumentException(op + ": initial state must be f32 " + Arrays.toString(want)
                        + " [N, H, K, V], got " + initialState.describe());
            }
        }
        return new Dims(b, t, h, kd, vd, cu);
    }

    private void dense(String op, Tensor... ts) {
        String[] names = {"q", "k", "v", "g", "initial state", "dout", "dfinal"};
        for (int i = 0; i < ts.length; i++) dt.requireDense(op, names[Math.min(i, names.length - 1)], ts[i]);
    }

    private static int dkPad(int k) {
        return k <= 64 ? 64 : 128;
    }

    private Kernel tc(int k, String name) {
        return dt.context()
                .module("gla.cu", Map.of("DK", Integer.toString(dkPad(k))))
                .kernel(name);
    }

    private Kernel aux(String file, String name) {
        return dt.context().module(file, Map.of()).kernel(name);
    }

    static int fwdSmem(int dk) {
        int qt = BLOCK * dk * 2,
                gt = BLOCK * dk * 4,
                vt = BLOCK * VALUE_TILE * 2,
                st = dk * VALUE_TILE * 2,
                pt = BLOCK * BLOCK * 2;
        return 4 * qt + gt + 2 * vt + st + pt + common(dk);
    }

    /** rawK, K2 and its low half, g, v and dO twice, the state copy, dP and its low half. */
    static int dqSmem(int dk) {
        int qt = BLOCK * dk * 2,
                gt = BLOCK * dk * 4,
                vt = BLOCK * VALUE_TILE * 2,
                st = dk * VALUE_TILE * 2,
                pt = BLOCK * BLOCK * 2;
        return 3 * qt + gt + 4 * vt + st + 2 * pt + common(dk);
    }

    /**
     * rawQ, rawK, Q1 and its low half, K2, g, v and dO twice, the state copy, A then dP and its low half, and six rows
     * of per-channel sums (dg's per-block term).
     */
    static int dkdvSmem(int dk) {
        int qt = BLOCK * dk * 2,
                gt = BLOCK * dk * 4,
                vt = BLOCK * VALUE_TILE * 2,
                st = dk * VALUE_TILE * 2,
                pt = BLOCK * BLOCK * 2;
        return 5 * qt + gt + 4 * vt + st + 2 * pt + common(dk) + 6 * dk * 4;
    }

    /** beta tile, per-channel vectors and unsafe-channel masks. */
    private static int common(int dk) {
        return BLOCK * (dk + 8) * 4 + 20 * dk * 4 + 4 * (dk / 32) * 4;
    }

    /**
     * The blocks of 64 tokens of every segment as (first token, end token, state slot) triples: block {@code blk} of
     * segment {@code seg} (first token {@code tBeg}) has its entering state at slot {@code tBeg / 64 + 2 seg + blk}
     * (gla.cu's slot_of), distinct over all blocks.
     */
    static int[] blockTable(Sequences sq) {
        int[] seg = sq.segTab();
        int n = 0;
        for (int s = 0; s < sq.segments(); s++) n += (seg[4 * s + 1] - seg[4 * s] + BLOCK - 1) / BLOCK;
        int[] out = new int[3 * n];
        int b = 0;
        for (int s = 0; s < sq.segments(); s++) {
            int tBeg = seg[4 * s], tEnd = seg[4 * s + 1];
            for (int t0 = tBeg, blk = 0; t0 < tEnd; t0 += BLOCK, blk++, b++) {
                out[3 * b] = t0;
                out[3 * b + 1] = Math.min(tEnd, t0 + BLOCK);
                out[3 * b + 2] = tBeg / BLOCK + 2 * s + blk;
            }
        }
        return out;
    }

    /** Slots of {@link #blockTable}: one past the largest. */
    static long slots(int[] blockTable) {
        long max = -1;
        for (int b = 2; b < blockTable.length; b += 3) max = Math.max(max, blockTable[b]);
        return max + 1;
    }

    private DevicePointer[] tables(Sequences sq) {
        return tables.of(sq);
    }

    private int segmentLength(Dims d) {
        if (segLen > 0) return segLen;
        int nvt = (d.v() + VALUE_TILE - 1) / VALUE_TILE;
        return Sequences.segmentLength(
                d.cu(), (long) d.heads() * nvt, dt.context().device().multiprocessors(), BLOCK);
    }

    private int scanThreads(Dims d) {
        return SequenceTables.scanThreads(
                (long) ((d.k() + 31) / 32) * d.heads() * d.sequences(),
                dt.context().device().multiprocessors());
    }

    // ------------------------------------------------------------------------------------------ forward

    public Output forward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            boolean wantFinalState,
            int[] cuSeqlens) {
        String op = "gla.forward";
        Dims d = validate(op, q, k, v, g, initialState, cuSeqlens);
        dense(op, q, k, v, g, initialState);
        dt.context().bind();
        int n = d.sequences();
        Tensor o = dt.alloc(q.dtype(), d.batch(), d.seqLen(), d.heads(), d.v());
        Tensor fin = wantFinalState ? dt.alloc(DType.F32, n, d.heads(), d.k(), d.v()) : null;
        if (!tensorCores(q.dtype(), d.k(), d.v())) {
            Sequences sq = Sequences.of(d.cu(), Integer.MAX_VALUE);
            DevicePointer[] tb = tables(sq);
            boolean f32 = q.dtype() == DType.F32;
            aux("gla_recurrent.cu", "glr_fwd")
                    .launch(
                            dt.stream(),
                            (d.v() + 31) / 32,
                            d.heads(),
                            n,
                            THREADS,
                            0,
                            dt.ptr(q, op),
                            dt.ptr(k, op),
                            dt.ptr(v, op),
                            dt.ptr(g, op),
                            f32 ? 1 : 0,
                            g.dtype() == DType.F32 ? 1 : 0,
                            dt.ptr(o, op),
                            f32 ? 1 : 0,
                            dt.ptr(initialState, op),
                            dt.ptr(fin, op),
                            tb[0],
                            (float) scale,
                            d.heads(),
                            d.k(),
                            d.v());
            return new Output(o, fin);
        }
        Sequences sq = Sequences.of(d.cu(), segmentLength(d));
        DevicePointer[] tb = tables(sq);
        int nvt = (d.v() + VALUE_TILE - 1) / VALUE_TILE, dk = dkPad(d.k());
        int gF32 = g.dtype() == DType.F32 ? 1 : 0;
        long kv = (long) d.k() * d.v();
        // one segment per sequence: its walk writes the final state; an empty sequence has no segment, and its final
        // state (its initial state) comes from the scan over segments
        if (sq.maxSegmentsPerSequence() == 1 && !sq.hasEmpty()) {
            tc(d.k(), "gla_fwd")
                    .launch(
                            dt.stream(),
                            nvt,
                            sq.segments(),
                            d.heads(),
                            THREADS,
                            fwdSmem(dk),
                            dt.ptr(q, op),
                            dt.ptr(k, op),
                            dt.ptr(v, op),
                            dt.ptr(g, op),
                            gF32,
                            dt.ptr(o, op),
                            dt.ptr(initialState, op),
                            dt.ptr(fin, op),
                            null,
                            null,
                            tb[1],
                            (float) scale,
                            d.heads(),
                            d.k(),
                            d.v(),
                            0,
                            prof(0));
            return new Output(o, fin);
        }
        try (DeviceBuffer states = dt.scratch(4L * sq.segments() * d.heads() * kv);
                DeviceBuffer decay = dt.scratch(4L * sq.segments() * d.heads() * d.k())) {
            forwardStates(op, d, sq, tb, q, k, v, g, initialState, fin, states, decay);
            tc(d.k(), "gla_fwd")
                    .launch(
                            dt.stream(),
                            nvt,
                            sq.segments(),
                            d.heads(),
                            THREADS,
                            fwdSmem(dk),
                            dt.ptr(q, op),
                            dt.ptr(k, op),
                            dt.ptr(v, op),
                            dt.ptr(g, op),
                            gF32,
                            dt.ptr(o, op),
                            states,
                            null,
                            null,
                            null,
                            tb[1],
                            (float) scale,
                            d.heads(),
                            d.k(),
                            d.v(),
                            0,
                            prof(0));
        }
        return new Output(o, fin);
    }

    /** Phases 1-2: each segment's entering state into {@code states}, the final states into {@code fin} (may be null). */
    private void forwardStates(
            String op,
            Dims d,
            Sequences sq,
            DevicePointer[] tb,
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            Tensor initialState,
            Tensor fin,
            DevicePointer states,
            DevicePointer decay) {
        int nvt = (d.v() + VALUE_TILE - 1) / VALUE_TILE, dk = dkPad(d.k());
        tc(d.k(), "gla_fwd")
                .launch(
                        dt.stream(),
                        nvt,
                        sq.segments(),
                        d.heads(),
                        THREADS,
                        fwdSmem(dk),
                        dt.ptr(q, op),
                        dt.ptr(k, op),
                        dt.ptr(v, op),
                        dt.ptr(g, op),
                        g.dtype() == DType.F32 ? 1 : 0,
                        null,
                        null,
                        null,
                        states,
                        decay,
                        tb[1],
                        1f,
                        d.heads(),
                        d.k(),
                        d.v(),
                        1,
                        prof(1));
        int n4 = d.k() * d.v() / 4;
        tc(d.k(), "gla_state_scan")
                .launch(
                        dt.stream(),
                        (n4 + 255) / 256,
                        d.heads(),
                        d.sequences(),
                        256,
                        0,
                        states,
                        decay,
                        dt.ptr(initialState, op),
                        dt.ptr(fin, op),
                        tb[0],
                        d.heads(),
                        d.k(),
                        d.v(),
                        0);
    }

    // ----------------------------------------------------------------------------------------- backward

    /**
     * Gradients from {@code dOut} [B, T, H, V] (q's dtype) and, when not null, {@code dFinalState} [N, H, K, V] f32. The
     * forward is recomputed where needed (per-segment states, the final state).
     */
    public Gradients backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor g,
            double scale,
            Tensor initialState,
            int[] cuSeqlens,
            Tensor dOut,
            Tensor dFinalState) {
        String op = "gla.backward";
        Dims d = validate(op, q, k, v, g, initialState, cuSeqlens);
        if (dOut == null || !Arrays.equals(dOut.shape(), v.shape()) || dOut.dtype() != q.dtype()) {
            throw new IllegalArgumentException(op + ": dout must be " + Arrays.toString(v.shape()) + " " + q.dtype()
                    + ", got " + (dOut == null ? "null" : dOut.describe()));
        }
        int n = d.sequences();
        if (dFinalState != null
                && (!Arrays.equals(dFinalState.shape(), new int[] {n, d.heads(), d.k(), d.v()})
                        || dFinalState.dtype() != DType.F32)) {
            throw new IllegalArgumentException(op + ": the final-state gradient must be f32 [" + n + ", " + d.heads()
                    + ", " + d.k() + ", " + d.v() + "], got " + dFinalState.describe());
        }
        dense(op, q, k, v, g, initialState, dOut, dFinalState);
        dt.context().bind();
        Tensor dq = dt.alloc(q.dtype(), q.shape()),
                dk = dt.alloc(q.dtype(), k.shape()),
                dv = dt.alloc(q.dtype(), v.shape());
        Tensor dg = dt.alloc(DType.F32, g.shape());
        Tensor dh0 = initialState == null ? null : dt.alloc(DType.F32, n, d.heads(), d.k(), d.v());
        long ntok = (long) d.batch() * d.seqLen();
        long kv = (long) d.k() * d.v();
        boolean f32 = q.dtype() == DType.F32;
        int gF32 = g.dtype() == DType.F32 ? 1 : 0;
        if (!tensorCores(q.dtype(), d.k(), d.v())) {
            Sequences sq = Sequences.of(d.cu(), Integer.MAX_VALUE);
            DevicePointer[] tb = tables(sq);
            long part = 4L * ntok * d.heads() * d.k();
            try (DeviceBuffer dqp = dt.scratch(part);
                    DeviceBuffer dkp = dt.scratch(part);
                    DeviceBuffer sT = dFinalState == null ? null : dt.scratch(4L * n * d.heads() * kv)) {
                dt.zero(dqp, part);
                dt.zero(dkp, part);
                int gx = (d.v() + 31) / 32;
                aux("gla_recurrent.cu", "glr_dq")
                        .launch(
                                dt.stream(),
                                gx,
                                d.heads(),
                                n,
                                THREADS,
                                0,
                                dt.ptr(k, op),
                                dt.ptr(v, op),
                                dt.ptr(g, op),
                                dt.ptr(dOut, op),
                                f32 ? 1 : 0,
                                gF32,
                                dt.ptr(initialState, op),
                                dqp,
                                sT,
                                tb[0],
                                (float) scale,
                                d.heads(),
                                d.k(),
                                d.v());
                aux("gla_recurrent.cu", "glr_bwd")
                        .launch(
                                dt.stream(),
                                gx,
                                d.heads(),
                                n,
                                THREADS,
                                0,
                                dt.ptr(q, op),
                                dt.ptr(k, op),
                                dt.ptr(v, op),
                                dt.ptr(g, op),
                                dt.ptr(dOut, op),
                                f32 ? 1 : 0,
                                gF32,
                                dt.ptr(dFinalState, op),
                                dt.ptr(dv, op),
                                f32 ? 1 : 0,
                                dkp,
                                dt.ptr(dh0, op),
                                tb[0],
                                (float) scale,
                                d.heads(),
                                d.k(),
                                d.v());
                finish(op, d, tb, q, k, dqp, dkp, 1, ntok, dFinalState, sT, dq, dk, dg);
            }
            return new Gradients(dq, dk, dv, dg, dh0);
        }
        Sequences sq = Sequences.of(d.cu(), segmentLength(d));
        DevicePointer[] tb = tables(sq);
        int nvt = (d.v() + VALUE_TILE - 1) / VALUE_TILE, dkp2 = dkPad(d.k());
        long part = 4L * nvt * ntok * d.heads() * d.k();
        // the scans over segments also give an empty sequence's dS0 (its dS_T); one segment per sequence skips them
        boolean multi = sq.maxSegmentsPerSequence() > 1 || sq.hasEmpty();
        long segStates = 4L * sq.segments() * d.heads() * kv;
        int[] blocks = blockTable(sq);
        long nslots = slots(blocks);
        try (DeviceBuffer dqp = dt.scratch(part);
                DeviceBuffer dkp = dt.scratch(part);
                DeviceBuffer slots = dt.scratch(2L * nslots * d.heads() * kv);
                DeviceBuffer wPart = dt.scratch(4L * nvt * nslots * d.heads() * d.k());
                DeviceBuffer fstates = multi ? dt.scratch(segStates) : null;
                DeviceBuffer gstates = multi ? dt.scratch(segStates) : null;
                DeviceBuffer decay = multi ? dt.scratch(4L * sq.segments() * d.heads() * d.k()) : null) {
            if (multi) {
                // entering forward states ...
                tc(d.k(), "gla_fwd")
                        .launch(
                                dt.stream(),
                                nvt,
                                sq.segments(),
                                d.heads(),
                                THREADS,
                                fwdSmem(dkp2),
                                dt.ptr(q, op),
                                dt.ptr(k, op),
                                dt.ptr(v, op),
                                dt.ptr(g, op),
                                gF32,
                                null,
                                null,
                                null,
                                fstates,
                                decay,
                                tb[1],
                                1f,
                                d.heads(),
                                d.k(),
                                d.v(),
                                1,
                                prof(1));
                int n4 = d.k() * d.v() / 4;
                tc(d.k(), "gla_state_scan")
                        .launch(
                                dt.stream(),
                                (n4 + 255) / 256,
                                d.heads(),
                                n,
                                256,
                                0,
                                fstates,
                                decay,
                                dt.ptr(initialState, op),
                                null,
                                tb[0],
                                d.heads(),
                                d.k(),
                                d.v(),
                                0);
                // ... and entering gradient states (and dS0)
                tc(d.k(), "gla_dkdv")
                        .launch(
                                dt.stream(),
                                nvt,
                                sq.segments(),
                                d.heads(),
                                THREADS,
                                dkdvSmem(dkp2),
                                dt.ptr(q, op),
                                dt.ptr(k, op),
                                dt.ptr(v, op),
                                dt.ptr(g, op),
                                gF32,
                                dt.ptr(dOut, op),
                                null,
                                null,
                                null,
                                null,
                                null,
                                null,
                                gstates,
                                decay,
                                tb[1],
                                (float) scale,
                                d.heads(),
                                d.k(),
                                d.v(),
                                ntok,
                                0L,
                                1,
                                prof(4));
                tc(d.k(), "gla_state_scan")
                        .launch(
                                dt.stream(),
                                (n4 + 255) / 256,
                                d.heads(),
                                n,
                                256,
                                0,
                                gstates,
                                decay,
                                dt.ptr(dFinalState, op),
                                dt.ptr(dh0, op),
                                tb[0],
                                d.heads(),
                                d.k(),
                                d.v(),
                                1);
            }
            tc(d.k(), "gla_dq")
                    .launch(
                            dt.stream(),
                            nvt,
                            sq.segments(),
                            d.heads(),
                            THREADS,
                            dqSmem(dkp2),
                            dt.ptr(k, op),
                            dt.ptr(v, op),
                            dt.ptr(g, op),
                            gF32,
                            dt.ptr(dOut, op),
                            multi ? fstates : dt.ptr(initialState, op),
                            dqp,
                            slots,
                            tb[1],
                            (float) scale,
                            d.heads(),
                            d.k(),
                            d.v(),
                            ntok,
                            prof(2));
            tc(d.k(), "gla_dkdv")
                    .launch(
                            dt.stream(),
                            nvt,
                            sq.segments(),
                            d.heads(),
                            THREADS,
                            dkdvSmem(dkp2),
                            dt.ptr(q, op),
                            dt.ptr(k, op),
                            dt.ptr(v, op),
                            dt.ptr(g, op),
                            gF32,
                            dt.ptr(dOut, op),
                            multi ? gstates : dt.ptr(dFinalState, op),
                            dt.ptr(dv, op),
                            dkp,
                            multi ? null : dt.ptr(dh0, op),
                            slots,
                            wPart,
                            null,
                            null,
                            tb[1],
                            (float) scale,
                            d.heads(),
                            d.k(),
                            d.v(),
                            ntok,
                            nslots,
                            0,
                            prof(3));
            int nblk = blocks.length / 3;
            aux("gla_aux.cu", "gla_finish_blocks")
                    .launch(
                            dt.stream(),
                            (nblk + 7) / 8,
                            (d.k() + 31) / 32,
                            d.heads(),
                            256,
                            0,
                            dt.ptr(q, op),
                            dt.ptr(k, op),
                            dqp,
                            dkp,
                            nvt,
                            ntok,
                            wPart,
                            nslots,
                            dt.ptr(dq, op),
                            dt.ptr(dk, op),
                            dt.ptr(dg, op),
                            tables.upload(blocks),
                            nblk,
                            d.heads(),
                            d.k());
        }
        return new Gradients(dq, dk, dv, dg, dh0);
    }

    private void finish(
            String op,
            Dims d,
            DevicePointer[] tb,
            Tensor q,
            Tensor k,
            DevicePointer dqp,
            DevicePointer dkp,
            int np,
            long ntok,
            Tensor dFinalState,
            DevicePointer sT,
            Tensor dq,
            Tensor dk,
            Tensor dg) {
        aux("gla_aux.cu", "gla_finish")
                .launch(
                        dt.stream(),
                        (d.k() + 31) / 32,
                        d.heads(),
                        d.sequences(),
                        scanThreads(d),
                        0,
                        dt.ptr(q, op),
                        dt.ptr(k, op),
                        q.dtype() == DType.F32 ? 1 : 0,
                        dqp,
                        dkp,
                        np,
                        ntok,
                        dt.ptr(dFinalState, op),
                        sT,
                        dt.ptr(dq, op),
                        dt.ptr(dk, op),
                        dt.ptr(dg, op),
                        1,
                        tb[0],
                        d.heads(),
                        d.k(),
                        d.v());
    }

    // ------------------------------------------------------------------------------------------- decode

    /**
     * Decoding: advances {@code state} [B, H, K, V] f32 in place over the T (usually 1) tokens of q, k, v, g [B, T, H, *]
     * and returns o [B, T, H, V] in q's dtype. Exact f32 arithmetic (the token-by-token kernel).
     */
    public Tensor decode(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor state) {
        String op = "gla.decode";
        if (state == null)
            throw new IllegalArgumentException(op + ": the state must not be null (decoding advances it in place)");
        Dims d = validate(op, q, k, v, g, state, null);
        dense(op, q, k, v, g, state);
        dt.context().bind();
        Tensor o = dt.alloc(q.dtype(), d.batch(), d.seqLen(), d.heads(), d.v());
        DevicePointer[] tb = tables(Sequences.of(d.cu(), Integer.MAX_VALUE));
        DevicePointer s = dt.ptr(state, op);
        aux("gla_recurrent.cu", "glr_fwd")
                .launch(
                        dt.stream(),
                        (d.v() + 31) / 32,
                        d.heads(),
                        d.sequences(),
                        THREADS,
                        0,
                        dt.ptr(q, op),
                        dt.ptr(k, op),
                        dt.ptr(v, op),
                        dt.ptr(g, op),
                        q.dtype() == DType.F32 ? 1 : 0,
                        g.dtype() == DType.F32 ? 1 : 0,
                        dt.ptr(o, op),
                        q.dtype() == DType.F32 ? 1 : 0,
                        s,
                        s,
                        tb[0],
                        (float) scale,
                        d.heads(),
                        d.k(),
                        d.v());
        return o;
    }
}
