package fulgur.cuda.ops.lightnet;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.DevicePointer;
import fulgur.cuda.Kernel;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.cuda.ops.SequenceTables;
import fulgur.cuda.ops.Sequences;
import fulgur.cuda.ops.gla.GlaLauncher;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.util.Arrays;
import java.util.Map;

/**
 * LightNet's additive recurrence ({@code fulgur.ops.lightnet.LightNet}) on the GPU, mapped onto gated linear attention
 * as fla's {@code fla/layers/lightnet.py} does: per key channel
 * <pre>
 *   z_t = logaddexp(z_{t-1}, k_t)        (z_{-1} = z0, or -inf without a state)
 *   GLA key kt_t = exp(k_t - z_t), log decay g_t = z_{t-1} - z_t (0 at t = 0 without a state)
 *   S_t = diag(exp(g_t)) S_{t-1} + kt_t^T v_t,   o_t = scale * q_t S_t   (fulgur's LightNet: scale 1)
 * </pre>
 * The log-cum-sum-exp and its chain rule are per-channel scans ({@code lightnet.cu}: chunked parallel scans, three
 * launches each); the attention is {@link GlaLauncher} (tensor cores for bf16 with K ≤ 128, the exact f32 kernels
 * otherwise). The state is the pair (S [N, H, K, V], z [N, H, K]), both f32; g stays f32 (fla rounds it to the input
 * dtype).
 */
public final class LightNetLauncher {
    private final DeviceTensors dt;
    private final GlaLauncher gla;
    private final SequenceTables tables;

    public LightNetLauncher(DeviceTensors dt) {
        this.dt = dt;
        this.gla = new GlaLauncher(dt);
        this.tables = new SequenceTables(dt);
    }

    public static LightNetLauncher of(CudaBackend backend) {
        return new LightNetLauncher(DeviceTensors.of(backend));
    }

    public GlaLauncher gla() {
        return gla;
    }

    /** Output [B, T, H, V] and, when asked for, the final state (s [N, H, K, V], z [N, H, K]). */
    public record Output(Tensor output, Tensor finalS, Tensor finalZ) {}

    /** Gradients of q, k, v and the initial state (both null without one). */
    public record Gradients(Tensor dq, Tensor dk, Tensor dv, Tensor ds0, Tensor dz0) {}

    /** Checks the LightNet-specific arguments (the rest is {@link GlaLauncher#validate}); no device access. */
    public static void validate(String op, Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, int[] cuSeqlens) {
        if ((s0 == null) != (z0 == null))
            throw new IllegalArgumentException(op + ": the initial state needs both s0 and z0, or neither");
        if (k == null) throw new IllegalArgumentException(op + ": k must not be null");
        GlaLauncher.Dims d = GlaLauncher.validate(op, q, k, v, k, s0, cuSeqlens);
        if (z0 != null
                && (!Arrays.equals(z0.shape(), new int[] {d.cu().length - 1, d.heads(), d.k()})
                        || z0.dtype() != DType.F32)) {
            throw new IllegalArgumentException(op + ": z0 must be f32 [" + (d.cu().length - 1) + ", " + d.heads() + ", "
                    + d.k() + "] [N, H, K], got " + z0.describe());
        }
    }

    /**
     * Tokens per chunk of the scans: the longest of 64, 128, ..., 1024 that still gives every multiprocessor 2048
     * threads (one per channel and chunk), or 64.
     */
    static int chunkLength(int[] cu, int h, int k, int sms) {
        for (int len = 1024; len > 64; len /= 2) {
            long chunks = 0;
            for (int i = 0; i + 1 < cu.length; i++) chunks += (cu[i + 1] - cu[i] + len - 1) / len;
            if (chunks * h * k >= 2048L * sms) return len;
        }
        return 64;
    }

    private Sequences chunks(int[] cu, int h, int k) {
        Sequences sq =
                Sequences.of(cu, chunkLength(cu, h, k, dt.context().device().multiprocessors()));
        if ((sq.segments() + 7) / 8 > 65535)
            throw new IllegalArgumentException("lightnet: " + sq.tokens() + " tokens are too many");
        return sq;
    }

    private Kernel kernel(String name) {
        return dt.context().module("lightnet.cu", Map.of()).kernel(name);
    }

    /** kt, g (and z at every position into zAll, the final z into zT, when not null). */
    private Tensor[] prep(String op, Tensor k, Tensor z0, int[] cu, DevicePointer zAll, Tensor zT) {
        int h = k.size(2), kd = k.size(3), n = cu.length - 1;
        Tensor kt = dt.alloc(k.dtype(), k.shape());
        Tensor g = dt.alloc(DType.F32, k.shape());
        Sequences sq = chunks(cu, h, kd);
        DevicePointer[] tb = tables.of(sq);
        int f32 = k.dtype() == DType.F32 ? 1 : 0, nc = sq.segments(), gx = (kd + 31) / 32, gy = (nc + 7) / 8;
        try (DeviceBuffer carry = dt.scratch(4L * nc * h * kd)) {
            kernel("ln_prep_local").launch(dt.stream(), gx, gy, h, 256, 0, dt.ptr(k, op), f32, carry, tb[1], nc, h, kd);
            kernel("ln_prep_carry")
                    .launch(
                            dt.stream(),
                            (h * kd + 255) / 256,
                            n,
                            1,
                            256,
                            0,
                            carry,
                            dt.ptr(z0, op),
                            dt.ptr(zT, op),
                            tb[0],
                            h,
                            kd);
            kernel("ln_prep")
                    .launch(
                            dt.stream(),
                            gx,
                            gy,
                            h,
                            256,
                            0,
                            dt.ptr(k, op),
                            f32,
                            carry,
                            dt.ptr(kt, op),
                            f32,
                            dt.ptr(g, op),
                            zAll,
                            tb[1],
                            nc,
                            h,
                            kd);
        }
        return new Tensor[] {kt, g};
    }

    public Output forward(
            Tensor q, Tensor k, Tensor v, Tensor s0, Tensor z0, double scale, boolean wantFinal, int[] cuSeqlens) {
        String op = "lightnet.forward";
        validate(op, q, k, v, s0, z0, cuSeqlens);
        dt.requireDense(op, "k", k);
        dt.requireDense(op, "z0", z0);
        dt.context().bind();
        int[] cu = Sequences.starts(op, q.size(0), q.size(1), cuSeqlens);
        Tensor zT = wantFinal ? dt.alloc(DType.F32, cu.length - 1, q.size(2), q.size(3)) : null;
        Tensor[] kg = prep(op, k, z0, cu, null, zT);
        GlaLauncher.Output r = gla.forward(q, kg[0], v, kg[1], scale, s0, wantFinal, cuSeqlens);
        kg[0].close();
        kg[1].close();
        return new Output(r.output(), r.finalState(), zT);
    }

    /** Gradients from dOut and, when not null, the final-state gradients dS [N, H, K, V] and dz [N, H, K] (f32). */
    public Gradients backward(
            Tensor q,
            Tensor k,
            Tensor v,
            Tensor s0,
            Tensor z0,
            double scale,
            int[] cuSeqlens,
            Tensor dOut,
            Tensor dFinalS,
            Tensor dFinalZ) {
        String op = "lightnet.backward";
        validate(op, q, k, v, s0, z0, cuSeqlens);
        dt.requireDense(op, "k", k);
        dt.requireDense(op, "z0", z0);
        dt.requireDense(op, "dz_T", dFinalZ);
        int[] cu = Sequences.starts(op, q.size(0), q.size(1), cuSeqlens);
        if (dFinalZ != null
                && (!Arrays.equals(dFinalZ.shape(), new int[] {cu.length - 1, q.size(2), q.size(3)})
                        || dFinalZ.dtype() != DType.F32)) {
            throw new IllegalArgumentException(
                    op + ": the final-z gradient must be f32 [N, H, K], got " + dFinalZ.describe());
        }
        dt.context().bind();
        int h = k.size(2), kd = k.size(3), n = cu.length - 1;
        try (DeviceBuffer z = dt.scratch(4L * k.numel())) {
            Tensor[] kg = prep(op, k, z0, cu, z, null);
            GlaLauncher.Gradients gr = gla.backward(q, kg[0], v, kg[1], scale, s0, cuSeqlens, dOut, dFinalS);
            Tensor dk = dt.alloc(k.dtype(), k.shape());
            Tensor dz0 = z0 == null ? null : dt.alloc(DType.F32, n, h, kd);
            Sequences sq = chunks(cu, h, kd);
            DevicePointer[] tb = tables.of(sq);
            int f32 = k.dtype() == DType.F32 ? 1 : 0, dktF32 = gr.dk().dtype() == DType.F32 ? 1 : 0;
            int nc = sq.segments(), gx = (kd + 31) / 32, gy = (nc + 7) / 8;
            try (DeviceBuffer carry = dt.scratch(4L * nc * h * kd);
                    DeviceBuffer mul = dt.scratch(4L * nc * h * kd)) {
                kernel("ln_post_local")
                        .launch(
                                dt.stream(),
                                gx,
                                gy,
                                h,
                                256,
                                0,
                                dt.ptr(k, op),
                                f32,
                                z,
                                dt.ptr(z0, op),
                                dt.ptr(gr.dk(), op),
                                dktF32,
                                dt.ptr(gr.dg(), op),
                                dt.ptr(dFinalZ, op),
                                carry,
                                mul,
                                tb[0],
                                tb[1],
                                nc,
                                h,
                                kd);
                kernel("ln_post_carry")
                        .launch(
                                dt.stream(),
                                (h * kd + 255) / 256,
                                n,
                                1,
                                256,
                                0,
                                carry,
                                mul,
                                dt.ptr(gr.dg(), op),
                                dt.ptr(z0, op),
                                dt.ptr(dz0, op),
                                tb[0],
                                h,
                                kd);
                kernel("ln_post")
                        .launch(
                                dt.stream(),
                                gx,
                                gy,
                                h,
                                256,
                                0,
                                dt.ptr(k, op),
                                f32,
                                z,
                                dt.ptr(z0, op),
                                dt.ptr(gr.dk(), op),
                                dktF32,
                                dt.ptr(gr.dg(), op),
                                dt.ptr(dFinalZ, op),
                                carry,
                                dt.ptr(dk, op),
                                tb[0],
                                tb[1],
                                nc,
                                h,
                                kd);
            }
            kg[0].close();
            kg[1].close();
            gr.dk().close();
            gr.dg().close();
            return new Gradients(gr.dq(), dk, gr.dv(), gr.dInitialState(), dz0);
        }
    }
}
