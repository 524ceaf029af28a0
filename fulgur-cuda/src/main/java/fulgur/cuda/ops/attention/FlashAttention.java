package fulgur.cuda.ops.attention;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.LaunchContext;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;
import java.util.HashMap;
import java.util.Map;

/**
 * Softmax attention on CUDA tensor cores, forward and backward, in the layout of fulgur and flash-linear-attention:
 * <pre>
 *   o[b,i,h,:] = sum_j softmax_j(scale * q[b,i,h,:] . k[b,j,g,:]) v[b,j,g,:],   g = h / (H / Hkv)
 * </pre>
 * q {@code [B, Tq, H, D]}, k and v {@code [B, Tk, Hkv, D]}, bf16 (any batch/token/head strides; the head dim
 * contiguous), f32 accumulation; the output is bf16 {@code [B, Tq, H, D]} and the row log-sum-exp of the scaled scores
 * f32 {@code [B, H, Tq]} ({@code -inf} for a row that sees no key), which the backward takes. With {@code causal},
 * query i sees key j iff {@code j <= i + Tk - Tq} (the last query aligned with the last key: ordinary causal
 * self-attention when Tq = Tk, and a query block after a cached prefix when Tq &lt; Tk). RoPE is applied by the
 * caller. Head dims 32, 64, 96, 128, 256 (backward: up to 128).
 *
 * <p>Packed sequences ({@link #forwardPacked}): B = 1 and cumulative sequence starts {@code cuSeqlens} (i32
 * {@code [N+1]}) for queries and keys; each sequence attends only within itself.
 *
 * <p>Two kernel families ({@link Kernels}): the FlashAttention-2 algorithm on {@code mma.sync} ({@code flash_attn.cu},
 * every head dim, sm_80 and later), and on Hopper (compute capability 9.0, head dims 64 and 128) the
 * FlashAttention-3 design on warpgroup MMAs ({@code flash_attn_sm90.cu}: wgmma, a producer warpgroup with
 * mbarrier-tracked copies, softmax overlapped with the next product). {@link Kernels#AUTO} (the default, or the
 * system property {@value #KERNELS_PROPERTY} = auto | mma_sync | wgmma) takes the second where it applies.
 *
 * <p>All work is enqueued on the backend's stream and nothing is read back to the host, so the calls can be
 * captured in a CUDA graph. dQ accumulates in f32 through atomic adds (bulk reductions on Hopper), so the backward's
 * dQ is not bitwise reproducible across runs (as in FlashAttention-2 and -3).
 */
public final class FlashAttention {
    static final String FILE = "flash_attn.cu";
    static final String FILE_SM90 = "flash_attn_sm90.cu";
    /** System property choosing the kernel family of new instances: auto, mma_sync or wgmma. */
    public static final String KERNELS_PROPERTY = "fulgur.cuda.attention.kernels";

    private static final float LOG2E = 1.4426950408889634f;
    /** Keys per backward CTA (16 per warp, 8 warps; on Hopper 64 per warpgroup, 2 warpgroups). */
    static final int BWD_BN = 128;

    /** Which kernels run. */
    public enum Kernels {
        /** Warpgroup MMAs where they apply (compute capability 9.0, head dim 64 or 128), else mma.sync. */
        AUTO,
        /** The FlashAttention-2 kernels on mma.sync (every head dim and GPU). */
        MMA_SYNC,
        /** The Hopper warpgroup kernels; an error where they do not apply. */
        WGMMA
    }

    private final LaunchContext lc;
    private final Map<String, String> extraDefines;
    private final Kernels kernels;

    public FlashAttention(CudaBackend backend) {
        this(new LaunchContext(backend), Map.of(), defaultKernels());
    }

    private FlashAttention(LaunchContext lc, Map<String, String> extraDefines, Kernels kernels) {
        this.lc = lc;
        this.extraDefines = Map.copyOf(extraDefines);
        this.kernels = kernels;
    }

    /** On the backend of a CUDA device. */
    public static FlashAttention on(Device device) {
        return new FlashAttention(LaunchContext.of(device), Map.of(), defaultKernels());
    }

    static Kernels defaultKernels() {
        String v = System.getProperty(KERNELS_PROPERTY, "auto").trim().toUpperCase(java.util.Locale.ROOT);
        try {
            return Kernels.valueOf(v);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(
                    KERNELS_PROPERTY + " must be auto, mma_sync or wgmma, got " + System.getProperty(KERNELS_PROPERTY));
        }
    }

    /** The same op with another kernel family. */
    public FlashAttention withKernels(Kernels k) {
        return new FlashAttention(lc, extraDefines, k);
    }

    /** The kernel family this instance was made with. */
    public Kernels kernels() {
        return kernels;
    }

    /**
     * The same op compiled with other tile settings (benchmarks). mma.sync kernels: {@code FWD_QREGS} (0/1: the
     * queries' fragments in registers), {@code FWD_MINB} (CTAs per multiprocessor the forward is register-budgeted
     * for), {@code BWD_BM} (queries per backward step, 32 or 64), {@code BWD_MINB}. Warpgroup kernels (forward):
     * {@code F90_WG} (consumer warpgroups of 64 query rows, 2 or 3), {@code F90_STAGES} (K/V ring depth, 2 or 3),
     * {@code F90_OVERLAP} (0/1: softmax overlapped with the previous block's P V), {@code F90_PINGPONG} (0/1: the
     * warpgroups take turns issuing their products); three warpgroups are for head dim 64.
     */
    public FlashAttention withDefines(Map<String, String> defines) {
        checkDefines(defines);
        return new FlashAttention(lc, defines, kernels);
    }

    static void checkDefines(Map<String, String> defines) {
        for (Map.Entry<String, String> e : defines.entrySet()) {
            String k = e.getKey(), v = e.getValue();
            boolean ok = switch (k) {
                case "FWD_QREGS", "F90_OVERLAP", "F90_PINGPONG" -> v.equals("0") || v.equals("1");
                case "FWD_MINB", "BWD_MINB" -> v.matches("[1-4]");
                case "BWD_BM" -> v.equals("32") || v.equals("64");
                case "F90_WG" -> v.equals("2") || v.equals("3");
                case "F90_STAGES" -> v.equals("2") || v.equals("3");
                default -> throw new IllegalArgumentException("unknown kernel setting " + k);
            };
            if (!ok) throw new IllegalArgumentException("kernel setting " + k + "=" + v + " is out of range");
        }
    }

    /**
     * Whether head dim {@code d} runs on the warpgroup kernels here (forward and backward alike).
     *
     * @throws IllegalArgumentException with {@link Kernels#WGMMA} where they do not apply
     */
    public boolean usesWgmma(int d) {
        boolean fits = wgmmaApplies(
                lc.context().device().ccMajor(), lc.context().device().ccMinor(), d);
        return switch (kernels) {
            case MMA_SYNC -> false;
            case AUTO -> fits;
            case WGMMA -> {
                if (!fits) {
                    throw new IllegalArgumentException(
                            "flashAttention: the warpgroup (wgmma) kernels need compute capability 9.0 and head dim 64 or 128, got "
                                    + lc.context().device() + " and head dim " + d);
                }
                yield true;
            }
        };
    }

    static boolean wgmmaApplies(int ccMajor, int ccMinor, int d) {
        return ccMajor == 9 && ccMinor == 0 && (d == 64 || d == 128);
    }

    /** Forward result: o and the row log-sum-exp. */
    public record Output(Tensor out, Tensor lse) implements AutoCloseable {
        @Override
        public void close() {
            out.close();
            lse.close();
        }
    }

    /** Gradients of q, k, v (k and v: summed over the query heads of each group). */
    public record Gradients(Tensor dq, Tensor dk, Tensor dv) implements AutoCloseable {
        @Override
        public void close() {
            dq.close();
            dk.close();
            dv.close();
        }
    }

    // ------------------------------------------------------------------ configuration (mirrors flash_attn.cu)

    /** HD and the settings of {@code file}'s kernels (F90_* for the warpgroup file, the others for the mma.sync one). */
    private Map<String, String> defines(String file, int d) {
        Map<String, String> m = new HashMap<>();
        boolean sm90 = file.equals(FILE_SM90);
        extraDefines.forEach((k, v) -> {
            if (k.startsWith("F90_") == sm90) m.put(k, v);
        });
        m.put("HD", Integer.toString(d));
        return m;
    }

    private Kernel kernel(int d, String name) {
        return lc.kernel(FILE, defines(FILE, d), name);
    }

    private Kernel kernel90(int d, String name) {
        return lc.kernel(FILE_SM90, defines(FILE_SM90, d), name);
    }

    private int setting(String key, int dflt) {
        return Integer.parseInt(extraDefines.getOrDefault(key, Integer.toString(dflt)));
    }

    static int smemCols(int d) {
        return d == 96 ? 128 : d;
    }

    static int fwdWarps(int d) {
        return d == 256 ? 4 : 8;
    }

    static int fwdBlockM(int d) {
        return 16 * fwdWarps(d);
    }

    static int fwdSmem(int d) {
        return (fwdBlockM(d) + 4 * 64) * smemCols(d) * 2;
    }

    private int bwdBlockM() {
        return Integer.parseInt(extraDefines.getOrDefault("BWD_BM", "64"));
    }

    static int bwdSmem(int d, int bm) {
        return 2 * BWD_BN * smemCols(d) * 2 + 4 * bm * smemCols(d) * 2 + BWD_BN * bm * 2 + 4 * bm * 4;
    }

    // warpgroup kernels (mirrors flash_attn_sm90.cu): 1024 bytes of slack to align the tiles to 1024

    /** Query rows per forward CTA: 64 per consumer warpgroup. */
    static int fwd90BlockM(int warpgroups) {
        return 64 * warpgroups;
    }

    static int fwd90Smem(int d, int warpgroups, int stages) {
        return 1024 + fwd90BlockM(warpgroups) * d * 2 + 2 * stages * 128 * d * 2 + 8 * (1 + 4 * stages);
    }

    /** Queries per backward step. */
    static int bwd90BlockM(int d) {
        return d == 64 ? 128 : 64;
    }

    static int bwd90Smem(int d) {
        int bm = bwd90BlockM(d);
        return 1024 + 2 * BWD_BN * d * 2 + 4 * bm * d * 2 + BWD_BN * bm * 2 + 2 * bm * (d + 8) * 4 + 4 * bm * 4;
    }

    /**
     * How many CTAs share one key block's query-head group in the backward: 1 (each CTA sums its whole group, no
     * atomics) unless that leaves multiprocessors idle; then the fewest parts (a divisor of the group) that fill them,
     * with dK and dV summed in f32 by atomic adds.
     */
    static int groupParts(int group, long ctas, int sms) {
        if (ctas >= sms) return 1;
        for (int p = 1; p <= group; p++) {
            if (group % p == 0 && ctas * p >= sms) return p;
        }
        return group;
    }

    // ------------------------------------------------------------------ forward

    /** Attention over [B, T, H, D] tensors (see the class comment). */
    public Output forward(Tensor q, Tensor k, Tensor v, double scale, boolean causal) {
        String op = "flashAttention.forward";
        AttentionShape s = AttentionShape.of(op, q, k, v, AttentionShape.HEAD_DIMS);
        AttentionShape.checkScale(op, scale);
        checkDevice(op, q, k, v);
        return runForward(op, s, q, k, v, null, null, s.batch(), s.tq(), scale, causal);
    }

    /**
     * Attention over packed sequences: q {@code [1, totalQ, H, D]}, k and v {@code [1, totalK, Hkv, D]}; sequence n
     * owns query rows {@code [cuSeqlensQ[n], cuSeqlensQ[n+1])} and key rows {@code [cuSeqlensK[n], cuSeqlensK[n+1])}
     * (i32 {@code [N+1]} tensors on the device, non-decreasing from 0). {@code maxSeqLenQ} bounds the longest query
     * sequence (it sizes the grid; no host read). Rows after the last sequence are not written.
     */
    public Output forwardPacked(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor cuSeqlensQ,
            Tensor cuSeqlensK,
            int maxSeqLenQ,
            double scale,
            boolean causal) {
        String op = "flashAttention.forwardPacked";
        AttentionShape s = AttentionShape.of(op, q, k, v, AttentionShape.HEAD_DIMS);
        AttentionShape.checkScale(op, scale);
        checkDevice(op, q, k, v);
        int n = checkPacked(op, s, cuSeqlensQ, cuSeqlensK, maxSeqLenQ);
        return runForward(op, s, q, k, v, cuSeqlensQ, cuSeqlensK, n, maxSeqLenQ, scale, causal);
    }

    /** {@link #forwardPacked} with host sequence starts (checked, then uploaded; the last must equal the row count). */
    public Output forwardPacked(
            Tensor q, Tensor k, Tensor v, int[] cuSeqlensQ, int[] cuSeqlensK, double scale, boolean causal) {
        String op = "flashAttention.forwardPacked";
        AttentionShape s = AttentionShape.of(op, q, k, v, AttentionShape.HEAD_DIMS);
        int maxQ = PackedSequences.check(op, "cuSeqlensQ", cuSeqlensQ, s.tq());
        PackedSequences.check(op, "cuSeqlensK", cuSeqlensK, s.tk());
        if (cuSeqlensQ.length != cuSeqlensK.length) {
            throw new IllegalArgumentException(
                    op + ": cuSeqlensQ and cuSeqlensK must describe the same number of sequences, got "
                            + (cuSeqlensQ.length - 1) + " and " + (cuSeqlensK.length - 1));
        }
        Tensor cq = PackedSequences.upload(lc, cuSeqlensQ), ck = PackedSequences.upload(lc, cuSeqlensK);
        try {
            return forwardPacked(q, k, v, cq, ck, Math.max(1, maxQ), scale, causal);
        } finally {
            cq.close();
            ck.close();
        }
    }

    private Output runForward(
            String op,
            AttentionShape s,
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor cuQ,
            Tensor cuK,
            int zCount,
            int maxQ,
            double scale,
            boolean causal) {
        int d = s.headDim();
        Tensor o = lc.empty(DType.BF16, s.batch(), s.tq(), s.heads(), d);
        Tensor lse = lc.empty(DType.F32, s.batch(), s.heads(), s.tq());
        if (s.tq() == 0 || maxQ == 0) return new Output(o, lse);
        boolean wg = usesWgmma(d);
        int warpgroups = setting("F90_WG", 2);
        if (wg && warpgroups == 3 && d != 64) {
            throw new IllegalArgumentException(
                    op + ": F90_WG=3 (160 registers per consumer thread) is for head dim 64, got " + d);
        }
        int bm = wg ? fwd90BlockM(warpgroups) : fwdBlockM(d);
        Kernel kern = wg ? kernel90(d, "fa90_fwd") : kernel(d, "fa_fwd");
        int threads = wg ? 128 * (warpgroups + 1) : 32 * fwdWarps(d);
        int smem = wg ? fwd90Smem(d, warpgroups, setting("F90_STAGES", 2)) : fwdSmem(d);
        try (Operand qo = Operand.of(lc, op, q);
                Operand ko = Operand.of(lc, op, k);
                Operand vo = Operand.of(lc, op, v)) {
            kern.launch(
                    lc.stream(),
                    (maxQ + bm - 1) / bm,
                    s.heads(),
                    zCount,
                    threads,
                    smem,
                    qo.ptr(),
                    ko.ptr(),
                    vo.ptr(),
                    lc.ptr(o, op),
                    lc.ptr(lse, op),
                    lc.ptr(cuQ, op),
                    lc.ptr(cuK, op),
                    qo.sb(),
                    qo.st(),
                    qo.sh(),
                    ko.sb(),
                    ko.st(),
                    ko.sh(),
                    vo.sb(),
                    vo.st(),
                    vo.sh(),
                    s.tq(),
                    s.tk(),
                    s.heads(),
                    s.kvHeads(),
                    (float) (scale * LOG2E),
                    causal ? 1 : 0);
        }
        return new Output(o, lse);
    }

    // ------------------------------------------------------------------ backward

    /**
     * Gradients of {@link #forward}: {@code out} and {@code lse} as the forward returned them, {@code dout} the
     * gradient of the output ({@code [B, Tq, H, D]} bf16). dk and dv are summed over the query heads of each group.
     */
    public Gradients backward(
            Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dout, double scale, boolean causal) {
        String op = "flashAttention.backward";
        AttentionShape s = AttentionShape.of(op, q, k, v, AttentionShape.BACKWARD_HEAD_DIMS);
        AttentionShape.checkScale(op, scale);
        checkBackwardArgs(op, s, q, k, v, out, lse, dout);
        return runBackward(op, s, q, k, v, out, lse, dout, null, null, s.batch(), s.tk(), scale, causal);
    }

    /** Gradients of {@link #forwardPacked}; {@code maxSeqLenK} bounds the longest key sequence. */
    public Gradients backwardPacked(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor lse,
            Tensor dout,
            Tensor cuSeqlensQ,
            Tensor cuSeqlensK,
            int maxSeqLenK,
            double scale,
            boolean causal) {
        String op = "flashAttention.backwardPacked";
        AttentionShape s = AttentionShape.of(op, q, k, v, AttentionShape.BACKWARD_HEAD_DIMS);
        AttentionShape.checkScale(op, scale);
        checkBackwardArgs(op, s, q, k, v, out, lse, dout);
        int n = checkPacked(op, s, cuSeqlensQ, cuSeqlensK, maxSeqLenK);
        return runBackward(op, s, q, k, v, out, lse, dout, cuSeqlensQ, cuSeqlensK, n, maxSeqLenK, scale, causal);
    }

    /** {@link #backwardPacked} with host sequence starts. */
    public Gradients backwardPacked(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor lse,
            Tensor dout,
            int[] cuSeqlensQ,
            int[] cuSeqlensK,
            double scale,
            boolean causal) {
        String op = "flashAttention.backwardPacked";
        AttentionShape s = AttentionShape.of(op, q, k, v, AttentionShape.BACKWARD_HEAD_DIMS);
        PackedSequences.check(op, "cuSeqlensQ", cuSeqlensQ, s.tq());
        int maxK = PackedSequences.check(op, "cuSeqlensK", cuSeqlensK, s.tk());
        if (cuSeqlensQ.length != cuSeqlensK.length) {
            throw new IllegalArgumentException(
                    op + ": cuSeqlensQ and cuSeqlensK must describe the same number of sequences, got "
                            + (cuSeqlensQ.length - 1) + " and " + (cuSeqlensK.length - 1));
        }
        Tensor cq = PackedSequences.upload(lc, cuSeqlensQ), ck = PackedSequences.upload(lc, cuSeqlensK);
        try {
            return backwardPacked(q, k, v, out, lse, dout, cq, ck, Math.max(1, maxK), scale, causal);
        } finally {
            cq.close();
            ck.close();
        }
    }

    private void checkBackwardArgs(
            String op, AttentionShape s, Tensor q, Tensor k, Tensor v, Tensor out, Tensor lse, Tensor dout) {
        AttentionShape.expect(op, "out", out, DType.BF16, s.batch(), s.tq(), s.heads(), s.headDim());
        AttentionShape.expect(op, "dout", dout, DType.BF16, s.batch(), s.tq(), s.heads(), s.headDim());
        AttentionShape.expect(op, "lse", lse, DType.F32, s.batch(), s.heads(), s.tq());
        checkDevice(op, q, k, v);
        lc.onDevice(op, "out", out);
        lc.onDevice(op, "lse", lse);
        lc.onDevice(op, "dout", dout);
    }

    private Gradients runBackward(
            String op,
            AttentionShape s,
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor out,
            Tensor lse,
            Tensor dout,
            Tensor cuQ,
            Tensor cuK,
            int zCount,
            int maxK,
            double scale,
            boolean causal) {
        int d = s.headDim(), b = s.batch(), h = s.heads(), hk = s.kvHeads();
        Tensor dq = lc.empty(DType.BF16, b, s.tq(), h, d);
        Tensor dk = lc.empty(DType.BF16, b, s.tk(), hk, d);
        Tensor dv = lc.empty(DType.BF16, b, s.tk(), hk, d);
        if (s.tq() == 0 || s.tk() == 0) {
            lc.zero(dq, op);
            lc.zero(dk, op);
            lc.zero(dv, op);
            return new Gradients(dq, dk, dv);
        }
        int bm = bwdBlockM();
        Tensor delta = lc.empty(DType.F32, b, h, s.tq());
        Tensor dqAcc = lc.zeros(DType.F32, b, s.tq(), h, d);
        Tensor lsec = lc.contiguous(lse);
        Tensor dkAcc = null, dvAcc = null;
        try (Operand qo = Operand.of(lc, op, q);
                Operand ko = Operand.of(lc, op, k);
                Operand vo = Operand.of(lc, op, v);
                Operand oo = Operand.of(lc, op, out);
                Operand go = Operand.of(lc, op, dout)) {
            long rows = (long) b * s.tq() * h;
            int pre = (int) Math.max(1, Math.min((rows + 7) / 8, (long) lc.multiprocessors() * 32));
            kernel(d, "fa_bwd_pre")
                    .launch(
                            lc.stream(),
                            pre,
                            1,
                            1,
                            256,
                            0,
                            oo.ptr(),
                            go.ptr(),
                            lc.ptr(delta, op),
                            oo.sb(),
                            oo.st(),
                            oo.sh(),
                            go.sb(),
                            go.st(),
                            go.sh(),
                            b,
                            s.tq(),
                            h);

            int keyBlocks = (maxK + BWD_BN - 1) / BWD_BN;
            int parts = groupParts(s.group(), (long) keyBlocks * hk * zCount, lc.multiprocessors());
            if (parts > 1) {
                dkAcc = lc.zeros(DType.F32, b, s.tk(), hk, d);
                dvAcc = lc.zeros(DType.F32, b, s.tk(), hk, d);
            }
            boolean wg = usesWgmma(d);
            Kernel main = wg ? kernel90(d, "fa90_bwd") : kernel(d, "fa_bwd");
            main.launch(
                    lc.stream(),
                    keyBlocks,
                    hk * parts,
                    zCount,
                    256,
                    wg ? bwd90Smem(d) : bwdSmem(d, bm),
                    qo.ptr(),
                    ko.ptr(),
                    vo.ptr(),
                    go.ptr(),
                    lc.ptr(lsec, op),
                    lc.ptr(delta, op),
                    lc.ptr(dqAcc, op),
                    lc.ptr(dk, op),
                    lc.ptr(dv, op),
                    lc.ptr(dkAcc, op),
                    lc.ptr(dvAcc, op),
                    lc.ptr(cuQ, op),
                    lc.ptr(cuK, op),
                    qo.sb(),
                    qo.st(),
                    qo.sh(),
                    ko.sb(),
                    ko.st(),
                    ko.sh(),
                    vo.sb(),
                    vo.st(),
                    vo.sh(),
                    go.sb(),
                    go.st(),
                    go.sh(),
                    s.tq(),
                    s.tk(),
                    h,
                    hk,
                    s.group() / parts,
                    (float) scale,
                    (float) (scale * LOG2E),
                    causal ? 1 : 0);
            toBf16(d, op, dqAcc, dq, (float) scale);
            if (parts > 1) {
                toBf16(d, op, dkAcc, dk, 1f);
                toBf16(d, op, dvAcc, dv, 1f);
            }
        } finally {
            delta.close();
            dqAcc.close();
            LaunchContext.release(lsec, lse);
            if (dkAcc != null) dkAcc.close();
            if (dvAcc != null) dvAcc.close();
        }
        return new Gradients(dq, dk, dv);
    }

    private void toBf16(int d, String op, Tensor in, Tensor out, float mul) {
        long n = in.numel();
        int blocks = (int) Math.max(1, Math.min((n / 4 + 255) / 256, (long) lc.multiprocessors() * 16));
        kernel(d, "fa_f32_to_bf16").launch(lc.stream(), blocks, 1, 1, 256, 0, lc.ptr(in, op), lc.ptr(out, op), n, mul);
    }

    // ------------------------------------------------------------------ checks

    private void checkDevice(String op, Tensor q, Tensor k, Tensor v) {
        lc.onDevice(op, "q", q);
        lc.onDevice(op, "k", k);
        lc.onDevice(op, "v", v);
    }

    private int checkPacked(String op, AttentionShape s, Tensor cuQ, Tensor cuK, int maxLen) {
        if (s.batch() != 1)
            throw new IllegalArgumentException(op + ": packed sequences need B = 1, got q with B=" + s.batch());
        for (Tensor c : new Tensor[] {cuQ, cuK}) {
            lc.onDevice(op, "cuSeqlens", c);
            if (c.dtype() != DType.I32 || c.ndim() != 1 || c.size(0) < 2 || !c.isContiguous()) {
                throw new IllegalArgumentException(
                        op + ": cuSeqlens must be contiguous i32 [N+1] with N >= 1, got " + c.describe());
            }
        }
        if (cuQ.size(0) != cuK.size(0)) {
            throw new IllegalArgumentException(op + ": cuSeqlensQ " + cuQ.describe() + " and cuSeqlensK "
                    + cuK.describe() + " describe different numbers of sequences");
        }
        int n = cuQ.size(0) - 1;
        if (n > 65535) throw new IllegalArgumentException(op + ": at most 65535 packed sequences, got " + n);
        if (maxLen < 1)
            throw new IllegalArgumentException(op + ": the longest-sequence bound must be >= 1, got " + maxLen);
        return n;
    }
}
