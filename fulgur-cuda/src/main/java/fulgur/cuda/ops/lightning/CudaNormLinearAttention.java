package fulgur.cuda.ops.lightning;

import fulgur.backend.UnaryOp;
import fulgur.cuda.CudaBackend;
import fulgur.cuda.backend.CudaElementwise;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.ops.KernelChoice;
import fulgur.cuda.ops.norm.CudaGatedNorm;
import fulgur.ops.GatedNormKernels.Gate;
import fulgur.ops.lightning.NormLinearAttentionKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link NormLinearAttentionKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): SiLU of q and k
 * in one pass from their column slices of qkvu (kept for the backward), the tensor-core lightning kernels reading
 * v where it lies, the gated norm reading u where it lies. The backward allocates d qkvu once: the gated norm writes du
 * into its last quarter and the lightning kernels write dq and dk (times silu' of the slices, in their epilogues) and
 * dv into the others. The forward keeps the segments' entering states (f32, a few MiB a layer) for the backward, which
 * would otherwise recompute them. bf16, head sizes 64 and 128.
 *
 * <p>The lightning kernels can also apply SiLU as q and k load ({@link LightningAttention.Layout#siluQk}, chosen by
 * {@link #siluOnLoad}): each tile's SiLU is then recomputed in every phase that reads it, at one block per
 * multiprocessor, which costs about as much as the pass it saves, so by default the activations are computed once here.
 */
public final class CudaNormLinearAttention implements NormLinearAttentionKernels {
    private final Gpu g;
    private final CudaLightning lightning;
    private final CudaGatedNorm norm;

    public CudaNormLinearAttention(Gpu g) {
        this.g = g;
        this.lightning = new CudaLightning(g);
        this.norm = new CudaGatedNorm(g);
    }

    public static CudaNormLinearAttention on(Device device) {
        return new CudaNormLinearAttention(CudaBackend.of(device).gpu());
    }

    @Override
    public boolean supports(Tensor qkvu, int heads) {
        String why = null;
        int w = qkvu.size(2), d = w / (4 * heads);
        if (qkvu.dtype() != DType.BF16) why = "not bf16 (" + qkvu.dtype() + ")";
        else if (!LightningAttention.supportsHeadDims(d, d)) why = "head size " + d + " (the kernels take 64 or 128)";
        else if (qkvu.size(0) > 65535 || heads > 65535) why = "more than 65535 sequences or heads";
        else if (!qkvu.isContiguous() || (g.ptr(qkvu, "normLinearAttention").address() & 15) != 0)
            why = "qkvu not contiguous and 16-byte aligned";
        return KernelChoice.note(
                "norm linear attention", why == null, why == null ? "fused (slices read in place)" : why);
    }

    /** Part {@code i} (0 q, 1 k, 2 v, 3 u) of a [B, T, 4·H·d] tensor as a [B, T, H, d] view. */
    private static Tensor part(Tensor x, int i, int heads) {
        return part(x, i, heads, 4);
    }

    /** Part {@code i} of a [B, T, parts·H·d] tensor as a [B, T, H, d] view. */
    private static Tensor part(Tensor x, int i, int heads, int parts) {
        int b = x.size(0), t = x.size(1), w = x.size(2), hd = w / parts;
        return Tensor.view(
                x.storage(),
                x.dtype(),
                new int[] {b, t, heads, hd / heads},
                new long[] {(long) t * w, w, hd / heads, 1},
                x.offset() + (long) i * hd);
    }

    /** The q and k slices of qkvu together: [B, T, 2·H·d], rows 4·H·d apart. */
    private static Tensor halfOf(Tensor qkvu) {
        int b = qkvu.size(0), t = qkvu.size(1), w = qkvu.size(2);
        return Tensor.view(
                qkvu.storage(), qkvu.dtype(), new int[] {b, t, w / 2}, new long[] {(long) t * w, w, 1}, qkvu.offset());
    }

    /** A [B, T, H, d] part as [B, T, H·d]. */
    private static Tensor flat(Tensor part4) {
        int[] s = part4.shape();
        long[] st = part4.strides();
        return Tensor.view(
                part4.storage(),
                part4.dtype(),
                new int[] {s[0], s[1], s[2] * s[3]},
                new long[] {st[0], st[1], 1},
                part4.offset());
    }

    private static LightningAttention.Shape shape(Tensor qkvu, int heads) {
        int d = qkvu.size(2) / (4 * heads);
        return new LightningAttention.Shape(qkvu.size(0), qkvu.size(1), heads, d, d);
    }

    /**
     * q and k side by side in one tensor (their SiLU, [B, T, 2·H·d]), v and everything written to d qkvu a row of qkvu
     * apart, dO contiguous.
     */
    private static LightningAttention.Layout layout(Tensor qkvu) {
        long w = qkvu.size(2), hd = w / 4;
        return new LightningAttention.Layout(2 * hd, 2 * hd, w, hd, w, w, w, false);
    }

    /** q and k read from qkvu too, the kernels applying SiLU to each tile as it loads. */
    private static LightningAttention.Layout siluOnLoadLayout(Tensor qkvu) {
        long w = qkvu.size(2), hd = w / 4;
        return new LightningAttention.Layout(w, w, w, hd, w, w, w, true);
    }

    /**
     * {@code -Dfulgur.cuda.nla.siluOnLoad=true}: no SiLU pass and no q, k kept; the lightning kernels apply SiLU to
     * the tiles of q and k as they load (in every phase that reads them). Off by default: in TNL-385M's step on an H100
     * it saves 1.5 GiB but no time (the lightning kernels take 1.8 ms more, the pass it removes took 2.6 ms).
     */
    static boolean siluOnLoad() {
        return Boolean.getBoolean("fulgur.cuda.nla.siluOnLoad");
    }

    @Override
    public Tensor[] forward(Tensor qkvu, int heads, double[] slopes, double scale, Tensor gain, double eps) {
        String op = "normLinearAttention";
        g.check(op, qkvu);
        g.bind();
        LightningAttention.Shape s = shape(qkvu, heads);
        boolean onLoad = siluOnLoad();
        Tensor q = null, k = null;
        if (!onLoad) {
            // SiLU of q and k in one pass over their two slices; q and k are then the halves of its result
            Tensor qk = CudaElementwise.unary(g, UnaryOp.SILU, halfOf(qkvu), 0);
            q = part(qk, 0, heads, 2);
            k = part(qk, 1, heads, 2);
        }
        Tensor o = g.alloc(DType.BF16, new int[] {s.batch(), s.seqLen(), s.heads() * s.dv()});
        LightningAttention tc = lightning.tensorCores();
        int seg = tc.defaultSegmentLength(s);
        Tensor states = states(s, seg);
        tc.forward(
                g.stream,
                s,
                onLoad ? siluOnLoadLayout(qkvu) : layout(qkvu),
                seg,
                g.ptr(onLoad ? part(qkvu, 0, heads) : q, op),
                g.ptr(onLoad ? part(qkvu, 1, heads) : k, op),
                g.ptr(part(qkvu, 2, heads), op),
                g.ptr(o, op),
                g.ptr(lightning.slopes(slopes), op),
                (float) scale,
                null,
                null,
                states == null ? null : g.ptr(states, op));
        Tensor[] yr = norm.forward(o, gain, flat(part(qkvu, 3, heads)), Gate.NONE, eps);
        return new Tensor[] {yr[0], q, k, o, yr[1], states};
    }

    /** The segments' entering states [B, H, segments, dk·dv] f32, or null for one segment (it enters with zero). */
    private Tensor states(LightningAttention.Shape s, int seg) {
        int ns = LightningAttention.segments(s, seg);
        return ns == 1 ? null : g.alloc(DType.F32, new int[] {s.batch(), s.heads(), ns, s.dk() * s.dv()});
    }

    @Override
    public Tensor[] backward(
            Tensor qkvu, int heads, double[] slopes, double scale, Tensor gain, Tensor[] saved, Tensor dy) {
        String op = "normLinearAttention.backward";
        g.check(op, qkvu);
        g.bind();
        // without q and k kept, the forward read them from qkvu with SiLU on load, and so does the backward
        boolean onLoad = saved[0] == null;
        Tensor q = onLoad ? part(qkvu, 0, heads) : saved[0], k = onLoad ? part(qkvu, 1, heads) : saved[1];
        Tensor o = saved[2], rstd = saved[3], states = saved[4];
        LightningAttention.Shape s = shape(qkvu, heads);
        long w = qkvu.size(2);
        Tensor dqkvu = g.alloc(qkvu.dtype(), qkvu.shape());
        Tensor dyc = g.contiguousAs(op, dy, DType.BF16);
        Tensor[] nr = norm.backwardInto(
                o, gain, flat(part(qkvu, 3, heads)), Gate.NONE, rstd, dyc, flat(part(dqkvu, 3, heads)));
        Tensor dO = nr[0];
        LightningAttention tc = lightning.tensorCores();
        tc.backward(
                g.stream,
                s,
                onLoad ? siluOnLoadLayout(qkvu) : layout(qkvu),
                tc.defaultSegmentLength(s),
                g.ptr(q, op),
                g.ptr(k, op),
                g.ptr(part(qkvu, 2, heads), op),
                g.ptr(dO, op),
                g.ptr(lightning.slopes(slopes), op),
                (float) scale,
                null,
                null,
                states == null ? null : g.ptr(states, op),
                g.ptr(part(dqkvu, 0, heads), op),
                g.ptr(part(dqkvu, 1, heads), op),
                g.ptr(part(dqkvu, 2, heads), op),
                null,
                g.ptr(part(qkvu, 0, heads), op),
                w,
                g.ptr(part(qkvu, 1, heads), op),
                w);
        dO.close();
        Gpu.freeTemp(dyc, dy);
        return new Tensor[] {dqkvu, nr[1]};
    }
}
