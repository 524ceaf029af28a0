package fulgur.cuda.ops.lightning;

import fulgur.cuda.CudaContext;
import fulgur.cuda.CudaStream;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.KernelModule;
import java.util.Map;

/**
 * Lightning attention (causal linear attention with a scalar decay per head) on CUDA tensor cores,
 * forward and backward, in the layout of flash-linear-attention:
 * <pre>
 *   S_t = lambda_h S_{t-1} + k_t^T v_t   (S_{-1} = initial state, f32 [B,H,dk,dv])
 *   o_t = scale * q_t S_t                lambda_h = exp(-slopes[h])
 * </pre>
 * q, k: bf16 [B,T,H,dk]; v, o: bf16 [B,T,H,dv]; slopes: f32 [H]. Equals fla's
 * {@code chunk_simple_gla(q, k, v, g_gamma=-slopes, scale=scale, initial_state, output_final_state)}.
 *
 * <p>Kernels (lightning.cu): each (b,h) sequence is cut into segments of {@code segLen} tokens (a multiple
 * of 64); per segment a local state, a prefix combination over segments, then a walk over the segment
 * with the running state on chip. The backward mirrors it: dQ is the same walk on (dO, V, K) with the
 * forward states transposed; dK and dV come from a reverse walk from the suffix-combined dState.
 *
 * <p>Head dims: dk and dv must each be 64 or 128 (other sizes are rejected with a clear error for now).
 * Any T &ge; 1 (partial last block handled), any B and H (H, B &le; 65535).
 */
public final class LightningAttention {
    public static final int BLOCK = 64;
    private static final int THREADS = 256;

    /** Problem shape. */
    public record Shape(int batch, int seqLen, int heads, int dk, int dv) {
        public Shape {
            if (batch < 1 || seqLen < 1 || heads < 1) {
                throw new IllegalArgumentException("lightning attention: batch, seqLen and heads must be >= 1, got B="
                        + batch + " T=" + seqLen + " H=" + heads);
            }
            if (!supportsHeadDims(dk, dv)) {
                throw new IllegalArgumentException("lightning attention (CUDA): head dims dk=" + dk + ", dv=" + dv
                        + " not supported; the tensor-core kernels take dk, dv in {64, 128}");
            }
            if (batch > 65535 || heads > 65535) throw new IllegalArgumentException("B and H must be <= 65535");
        }

        public long qkElements() {
            return (long) batch * seqLen * heads * dk;
        }

        public long voElements() {
            return (long) batch * seqLen * heads * dv;
        }

        /** Elements of one state set [B,H,dk,dv]. */
        public long stateElements() {
            return (long) batch * heads * dk * dv;
        }
    }

    /**
     * Where the operands lie: the row stride of each (elements between consecutive tokens of one sequence; sequence b
     * starts at b·T·stride, so a column slice of a fused [B, T, W] projection qualifies) and whether q and k are the
     * pre-activations of a SiLU feature map, applied by the kernels as they load them (the gradients they write for q
     * and k are then those of the pre-activations). {@code o} is the forward's output and the backward's dO.
     */
    public record Layout(long q, long k, long v, long o, long dq, long dk, long dv, boolean siluQk) {
        /** Every operand contiguous [B, T, H, d], no feature map. */
        public static Layout contiguous(Shape s) {
            long a = (long) s.heads() * s.dk(), c = (long) s.heads() * s.dv();
            return new Layout(a, a, c, c, a, a, c, false);
        }
    }

    public static boolean supportsHeadDims(int dk, int dv) {
        return (dk == 64 || dk == 128) && (dv == 64 || dv == 128);
    }

    /** Observes the end of each kernel launch (benchmarks record events there). */
    public interface Probe {
        void after(String phase, CudaStream stream);
    }

    private final CudaContext ctx;
    private Probe probe;

    public LightningAttention(CudaContext ctx) {
        this.ctx = ctx;
    }

    /** Sets (or clears, with null) a probe called after each launch. */
    public LightningAttention probe(Probe p) {
        this.probe = p;
        return this;
    }

    private void mark(String phase, CudaStream st) {
        if (probe != null) probe.after(phase, st);
    }

    /** Segments of {@code segLen} in the sequence. */
    public static int segments(Shape s, int segLen) {
        return (s.seqLen() + segLen - 1) / segLen;
    }

    /** Bytes of the per-segment state buffer ([B,H,NS,dk,dv] f32) the forward keeps for the backward. */
    public static long stateBytes(Shape s, int segLen) {
        return 4L * segments(s, segLen) * s.stateElements();
    }

    /**
     * The longest segments that still keep the multiprocessors busy: the fewest segments per sequence for
     * which B*H*NS CTAs (one per multiprocessor at a time) fill the waves to at least 85%. Fewer segments
     * mean less state traffic; one segment skips the state phases altogether.
     */
    public int defaultSegmentLength(Shape s) {
        return segmentLengthFor(s, ctx.device().multiprocessors());
    }

    static int segmentLengthFor(Shape s, int sms) {
        long bh = (long) s.batch() * s.heads();
        int maxNs = (s.seqLen() + BLOCK - 1) / BLOCK;
        int ns = 1;
        while (ns < maxNs) {
            long ctas = bh * ns;
            long waves = (ctas + sms - 1) / sms;
            if (ctas >= 0.85 * waves * sms) break;
            ns++;
        }
        int seg = (int) Math.ceil(s.seqLen() / (double) ns);
        return Math.max(BLOCK, ((seg + BLOCK - 1) / BLOCK) * BLOCK);
    }

    private KernelModule module(int dk, int dv) {
        return ctx.module("lightning.cu", Map.of("DK", Integer.toString(dk), "DV", Integer.toString(dv)));
    }

    private static int chunkStateSmem(int dk, int dv) {
        return 2 * (BLOCK * dk * 2 + BLOCK * dv * 2) + 65 * 4;
    }

    private static int walkSmem(int dk, int dv) {
        return 2 * (2 * BLOCK * dk * 2 + BLOCK * dv * 2)
                + dk * dv * 2
                + BLOCK * BLOCK * 2
                + 2 * 8 * 16 * (dv / 2) * 2 // staging, and the pre-activations of the silu' epilogue
                + 65 * 4;
    }

    private static int dkdvSmem(int dk, int dv) {
        return 2 * (2 * BLOCK * dk * 2 + 2 * BLOCK * dv * 2)
                + dk * dv * 2
                + 2 * BLOCK * BLOCK * 2
                + 8 * 16 * (Math.max(dk, dv) / 2) * 2
                + 8 * 16 * (dk / 2) * 2 // the pre-activations of dK's silu' epilogue
                + 65 * 4;
    }

    /** The forward walk (also dQ's, with dims swapped): o = walk(q, k, v) from the entering states. */
    private void walk(
            CudaStream st,
            Shape s,
            int dk,
            int dv,
            int segLen,
            DevicePointer q,
            DevicePointer k,
            DevicePointer v,
            DevicePointer o,
            DevicePointer states,
            int transposed,
            DevicePointer slopes,
            float scale,
            DevicePointer finalState,
            long rsq,
            long rsk,
            long rsv,
            long rso,
            int silu,
            DevicePointer pre,
            long rsp) {
        module(dk, dv)
                .kernel("la_fwd_walk")
                .launch(
                        st,
                        segments(s, segLen),
                        s.heads(),
                        s.batch(),
                        THREADS,
                        walkSmem(dk, dv),
                        q,
                        k,
                        v,
                        o,
                        states,
                        slopes,
                        scale,
                        s.seqLen(),
                        s.heads(),
                        segLen,
                        transposed,
                        finalState,
                        rsq,
                        rsk,
                        rsv,
                        rso,
                        silu,
                        pre,
                        rsp);
    }

    private static void checkSeg(Shape s, int segLen) {
        if (segLen < BLOCK || segLen % BLOCK != 0) {
            throw new IllegalArgumentException(
                    "segment length must be a positive multiple of " + BLOCK + ", got " + segLen);
        }
        if (segments(s, segLen) > 65535)
            throw new IllegalArgumentException("too many segments: use a longer segment length");
    }

    private static void need(DevicePointer p, String what) {
        if (p == null) throw new IllegalArgumentException("lightning attention: " + what + " must not be null");
    }

    /**
     * Forward. {@code initialState} and {@code finalState} (f32 [B,H,dk,dv]) may be null. {@code states}, when
     * not null, receives the per-segment entering states ({@link #stateBytes}) for {@link #backward} (a
     * sequence of one segment needs none: its entering state is the initial state).
     * The operands lie where {@code lay} says ({@link Layout#contiguous} for [B, T, H, d] tensors).
     */
    public void forward(
            CudaStream st,
            Shape s,
            Layout lay,
            int segLen,
            DevicePointer q,
            DevicePointer k,
            DevicePointer v,
            DevicePointer o,
            DevicePointer slopes,
            float scale,
            DevicePointer initialState,
            DevicePointer finalState,
            DevicePointer states) {
        checkSeg(s, segLen);
        need(q, "q");
        need(k, "k");
        need(v, "v");
        need(o, "o");
        need(slopes, "slopes");
        ctx.bind();
        int ns = segments(s, segLen);
        int silu = lay.siluQk() ? 3 : 0;
        // one segment enters with the initial state (the walk leaves the final state); more first need each
        // segment's entering state
        DeviceBuffer tmp = ns > 1 && states == null ? ctx.allocate(stateBytes(s, segLen), st) : null;
        try {
            DevicePointer entering = initialState;
            if (ns > 1) {
                entering = states == null ? tmp : states;
                computeStates(st, s, lay, segLen, k, v, slopes, initialState, null, entering);
            }
            walk(
                    st,
                    s,
                    s.dk(),
                    s.dv(),
                    segLen,
                    q,
                    k,
                    v,
                    o,
                    entering,
                    0,
                    slopes,
                    scale,
                    finalState,
                    lay.q(),
                    lay.k(),
                    lay.v(),
                    lay.o(),
                    silu,
                    null,
                    0);
            mark("fwd_walk", st);
        } finally {
            if (tmp != null) tmp.close();
        }
    }

    /**
     * Phases 1 and 2 of the forward: per-segment entering states (and the final state), k and v where {@code lay}
     * says they lie.
     */
    public void computeStates(
            CudaStream st,
            Shape s,
            Layout lay,
            int segLen,
            DevicePointer k,
            DevicePointer v,
            DevicePointer slopes,
            DevicePointer initialState,
            DevicePointer finalState,
            DevicePointer states) {
        checkSeg(s, segLen);
        ctx.bind();
        int ns = segments(s, segLen);
        KernelModule m = module(s.dk(), s.dv());
        m.kernel("la_chunk_state")
                .launch(
                        st,
                        ns,
                        s.heads(),
                        s.batch(),
                        THREADS,
                        chunkStateSmem(s.dk(), s.dv()),
                        k,
                        v,
                        states,
                        slopes,
                        1.0f,
                        s.seqLen(),
                        s.heads(),
                        segLen,
                        0,
                        lay.k(),
                        lay.v(),
                        lay.siluQk() ? 1 : 0);
        mark("chunk_state", st);
        int n = s.dk() * s.dv();
        m.kernel("la_state_scan")
                .launch(
                        st,
                        (n / 4 + 255) / 256,
                        s.batch() * s.heads(),
                        1,
                        256,
                        0,
                        states,
                        initialState,
                        finalState,
                        slopes,
                        s.seqLen(),
                        s.heads(),
                        segLen,
                        ns,
                        n,
                        0);
        mark("state_scan", st);
    }

    /**
     * Backward. {@code forwardStates} are the states the forward filled with the same {@code segLen} (null:
     * recomputed; unused when the sequence is one segment). {@code dFinalState} (gradient of the final state) and
     * {@code dInitialState} may be null. The operands and gradients lie where {@code lay} says. When q and k are
     * SiLU(qPre) and SiLU(kPre) (rows {@code qPreStride}, {@code kPreStride} apart), dq and dk come out as the
     * gradients of the pre-activations, times silu' in the kernels' epilogues; with {@code lay.siluQk()} the kernels
     * apply SiLU themselves and qPre, kPre are q and k; null, 0: no feature map.
     */
    public void backward(
            CudaStream st,
            Shape s,
            Layout lay,
            int segLen,
            DevicePointer q,
            DevicePointer k,
            DevicePointer v,
            DevicePointer dout,
            DevicePointer slopes,
            float scale,
            DevicePointer initialState,
            DevicePointer dFinalState,
            DevicePointer forwardStates,
            DevicePointer dq,
            DevicePointer dk,
            DevicePointer dv,
            DevicePointer dInitialState,
            DevicePointer qPre,
            long qPreStride,
            DevicePointer kPre,
            long kPreStride) {
        checkSeg(s, segLen);
        need(q, "q");
        need(k, "k");
        need(v, "v");
        need(dout, "dout");
        need(slopes, "slopes");
        need(dq, "dq");
        need(dk, "dk");
        need(dv, "dv");
        ctx.bind();
        int ns = segments(s, segLen);
        long sb = stateBytes(s, segLen);
        DeviceBuffer fwdTmp = (ns > 1 && forwardStates == null) ? ctx.allocate(sb, st) : null;
        DeviceBuffer g = ns > 1 ? ctx.allocate(sb, st) : null;
        try {
            DevicePointer fs = ns == 1 ? initialState : forwardStates;
            if (fwdTmp != null) {
                computeStates(st, s, lay, segLen, k, v, slopes, initialState, null, fwdTmp);
                fs = fwdTmp;
            }
            // dQ = scale * dO S_t^T: the forward walk on (dO, V, K) with the forward's states read transposed
            boolean silu = lay.siluQk();
            walk(
                    st,
                    s,
                    s.dv(),
                    s.dk(),
                    segLen,
                    dout,
                    v,
                    k,
                    dq,
                    fs,
                    1,
                    slopes,
                    scale,
                    null,
                    lay.o(),
                    lay.v(),
                    lay.k(),
                    lay.dq(),
                    silu ? 4 : 0,
                    qPre,
                    qPreStride);
            mark("dq_walk", st);
            KernelModule m = module(s.dk(), s.dv());
            DevicePointer gs = dFinalState;
            int gIsDht = 1;
            if (ns > 1) {
                m.kernel("la_chunk_state")
                        .launch(
                                st,
                                ns,
                                s.heads(),
                                s.batch(),
                                THREADS,
                                chunkStateSmem(s.dk(), s.dv()),
                                q,
                                dout,
                                g,
                                slopes,
                                scale,
                                s.seqLen(),
                                s.heads(),
                                segLen,
                                1,
                                lay.q(),
                                lay.o(),
                                silu ? 1 : 0);
                mark("chunk_dstate", st);
                int n = s.dk() * s.dv();
                m.kernel("la_state_scan")
                        .launch(
                                st,
                                (n / 4 + 255) / 256,
                                s.batch() * s.heads(),
                                1,
                                256,
                                0,
                                g,
                                dFinalState,
                                null,
                                slopes,
                                s.seqLen(),
                                s.heads(),
                                segLen,
                                ns,
                                n,
                                1);
                mark("dstate_scan", st);
                gs = g;
                gIsDht = 0;
            }
            m.kernel("la_bwd_dkdv")
                    .launch(
                            st,
                            ns,
                            s.heads(),
                            s.batch(),
                            THREADS,
                            dkdvSmem(s.dk(), s.dv()),
                            q,
                            k,
                            v,
                            dout,
                            dk,
                            dv,
                            gs,
                            slopes,
                            scale,
                            s.seqLen(),
                            s.heads(),
                            segLen,
                            gIsDht,
                            dInitialState,
                            lay.q(),
                            lay.k(),
                            lay.v(),
                            lay.o(),
                            lay.dk(),
                            lay.dv(),
                            silu ? 1 : 0,
                            kPre,
                            kPreStride);
            mark("dkdv_walk", st);
        } finally {
            if (g != null) g.close();
            if (fwdTmp != null) fwdTmp.close();
        }
    }

    /** The official TNL / ALiBi slopes 2^(-8h/H), h = 1..H (H a power of two; otherwise the ALiBi interleave). */
    public static float[] tnlSlopes(int heads) {
        float[] out = new float[heads];
        int p = Integer.highestOneBit(heads);
        double[] base = new double[p];
        for (int h = 0; h < p; h++) base[h] = Math.pow(2, -8.0 * (h + 1) / p);
        if (p == heads) {
            for (int h = 0; h < heads; h++) out[h] = (float) base[h];
            return out;
        }
        double[] extra = new double[2 * p];
        for (int h = 0; h < 2 * p; h++) extra[h] = Math.pow(2, -8.0 * (h + 1) / (2 * p));
        int i = 0;
        for (; i < p; i++) out[i] = (float) base[i];
        for (int j = 0; i < heads; j += 2, i++) out[i] = (float) extra[j];
        return out;
    }
}
