package fulgur.cuda.ops.lcsm;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.Kernel;
import fulgur.cuda.KernelStruct;
import fulgur.cuda.ops.DeviceTensors;
import fulgur.tensor.DType;
import fulgur.tensor.Tensor;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Map;

/**
 * LCSM's Expand-Oscillation-Shrink scan ({@code fulgur.ops.lcsm.Lcsm#scan}, the Backend's {@code lcsmScanForward}/
 * {@code Backward} contract) on the GPU:
 * <pre>
 *   m_t = exp(logO_t) * m_{t-1} + e_t * (1 i_t^T)      y_t = sum_k s_t * m_t
 * </pre>
 * i [B, T, d]; e, logO, s views of [B, T, k, d] with any strides (stride 0 on broadcast axes, as {@code Views.expand}
 * makes them); m0 [B, k, d] contiguous or null. All of i's dtype (f32 or bf16); f32 arithmetic, every (k, d) entry an
 * independent scalar recurrence, run as a chunked parallel scan ({@code lcsm.cu}: per-chunk local carries, a pass over
 * the chunks' carries, then every chunk again from its entering state). k ≤ 64.
 */
public final class LcsmLauncher {
    public static final int MAX_EXPAND = 64;
    /** Tokens per chunk of the parallel scan, and per sub-chunk of the backward's recomputation (lcsm.cu's CL, SUB). */
    static final int CHUNK = 64, SUB = 8;

    private final DeviceTensors dt;

    public LcsmLauncher(DeviceTensors dt) {
        this.dt = dt;
    }

    public static LcsmLauncher of(CudaBackend backend) {
        return new LcsmLauncher(DeviceTensors.of(backend));
    }

    /** y [B, T, d] and m_T [B, k, d]. */
    public record Output(Tensor y, Tensor finalState) {}

    /** di [B, T, d]; de, dlogO, ds [B, T, k, d] (unreduced over broadcast axes); dm0 [B, k, d] (null without m0). */
    public record Gradients(Tensor di, Tensor de, Tensor dlogO, Tensor ds, Tensor dm0) {}

    /** Checks shapes and dtypes (no device access); returns {B, T, k, d}. */
    public static int[] validate(String op, Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        if (i == null || e == null || logO == null || s == null)
            throw new IllegalArgumentException(op + ": i, e, logO and s must not be null");
        if (i.ndim() != 3) throw new IllegalArgumentException(op + ": i must be [B, T, d], got " + i.describe());
        if (i.dtype() != DType.F32 && i.dtype() != DType.BF16)
            throw new IllegalArgumentException(op + ": i must be f32 or bf16, got " + i.describe());
        int b = i.size(0), t = i.size(1), d = i.size(2);
        int k = e.ndim() == 4 ? e.size(2) : -1;
        String[] names = {"e", "logO", "s"};
        Tensor[] ts = {e, logO, s};
        for (int n = 0; n < 3; n++) {
            Tensor x = ts[n];
            if (!Arrays.equals(x.shape(), new int[] {b, t, k, d})) {
                throw new IllegalArgumentException(op + ": " + names[n] + " must be [B, T, k, d] = "
                        + Arrays.toString(new int[] {b, t, Math.max(k, 0), d})
                        + " (expand broadcast inputs first), got " + x.describe());
            }
            if (x.dtype() != i.dtype())
                throw new IllegalArgumentException(
                        op + ": " + names[n] + " must have i's dtype " + i.dtype() + ", got " + x.describe());
        }
        if (k < 1 || k > MAX_EXPAND)
            throw new IllegalArgumentException(op + ": the expand dim k=" + k + " must be in 1.." + MAX_EXPAND);
        if (b < 1 || t < 1 || d < 1) throw new IllegalArgumentException(op + ": empty input " + i.describe());
        if (b > 65535) throw new IllegalArgumentException(op + ": B=" + b + " is above 65535");
        if (m0 != null && (!Arrays.equals(m0.shape(), new int[] {b, k, d}) || m0.dtype() != i.dtype())) {
            throw new IllegalArgumentException(
                    op + ": m0 must be " + i.dtype() + " [" + b + ", " + k + ", " + d + "], got " + m0.describe());
        }
        return new int[] {b, t, k, d};
    }

    private void onDevice(String op, Tensor... ts) {
        for (Tensor x : ts) {
            if (x == null) continue;
            x.checkAlive(op);
            if (!x.device().equals(dt.device()))
                throw new IllegalArgumentException(
                        op + ": expected tensors on " + dt.device() + ", got " + x.describe());
        }
    }

    /** Element strides of i (3) then e, logO, s (4 each), in the layout of the kernels' LcsmDesc. */
    static KernelStruct strides(Tensor i, Tensor e, Tensor logO, Tensor s) {
        ByteBuffer bb = KernelStruct.buffer(15 * 8);
        for (int a = 0; a < 3; a++) bb.putLong(i.stride(a));
        for (Tensor x : new Tensor[] {e, logO, s}) for (int a = 0; a < 4; a++) bb.putLong(x.stride(a));
        return KernelStruct.of(bb);
    }

    /** Entries per thread (lcsm.cu's KPT): 4, or 8 above k = 32, so that a CTA has at most 8 warps. */
    static int perThread(int k) {
        return k <= 32 ? 4 : 8;
    }

    private Kernel kernel(int k, String name) {
        return dt.context()
                .module("lcsm.cu", Map.of("KPT", Integer.toString(perThread(k))))
                .kernel(name);
    }

    private static int threads(int k) {
        return 32 * ((k + perThread(k) - 1) / perThread(k));
    }

    /** Dynamic shared memory of lcsm_fwd (the sum over k of more than one warp) and, with checkpoints, lcsm_bwd. */
    static int smem(int k, boolean checkpoints) {
        int th = threads(k), kg = th / 32;
        int red = kg > 1 ? SUB * kg * 33 * 4 : 0;
        return red + (checkpoints ? (CHUNK / SUB) * perThread(k) * th * 4 : 0);
    }

    private static int chunks(String op, int t) {
        int nc = (t + CHUNK - 1) / CHUNK;
        if (nc > 65535)
            throw new IllegalArgumentException(
                    op + ": T=" + t + " is above the supported " + 65535L * CHUNK + " tokens");
        return nc;
    }

    public Output forward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0) {
        int[] f = validate("lcsm.forward", i, e, logO, s, m0);
        Tensor y = dt.alloc(i.dtype(), f[0], f[1], f[3]);
        Tensor mT = dt.alloc(i.dtype(), f[0], f[2], f[3]);
        forwardInto(i, e, logO, s, m0, y, mT);
        return new Output(y, mT);
    }

    /**
     * {@link #forward} into given outputs: y [B, T, d] and m_T [B, k, d], contiguous, of i's dtype (views of one packed
     * tensor, for instance).
     */
    public void forwardInto(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor y, Tensor mT) {
        String op = "lcsm.forward";
        int[] f = validate(op, i, e, logO, s, m0);
        int b = f[0], t = f[1], k = f[2], d = f[3];
        for (Tensor out : new Tensor[] {y, mT}) {
            if (out == null || !out.isContiguous() || out.dtype() != i.dtype()) {
                throw new IllegalArgumentException(op + ": outputs must be contiguous " + i.dtype() + " tensors, got "
                        + (out == null ? "null" : out.describe()));
            }
        }
        if (!Arrays.equals(y.shape(), new int[] {b, t, d}) || !Arrays.equals(mT.shape(), new int[] {b, k, d})) {
            throw new IllegalArgumentException(op + ": outputs must be y [" + b + ", " + t + ", " + d + "] and mT [" + b
                    + ", " + k + ", " + d + "], got " + y.describe() + " and " + mT.describe());
        }
        onDevice(op, i, e, logO, s, m0, y, mT);
        dt.requireDense(op, "m0", m0);
        dt.context().bind();
        int nc = chunks(op, t), f32 = i.dtype() == DType.F32 ? 1 : 0;
        long carry = 4L * b * nc * k * d;
        KernelStruct strides = strides(i, e, logO, s);
        try (DeviceBuffer lf = dt.scratch(carry);
                DeviceBuffer la = dt.scratch(carry)) {
            kernel(k, "lcsm_local")
                    .launch(
                            dt.stream(),
                            (d + 31) / 32,
                            nc,
                            b,
                            threads(k),
                            0,
                            dt.ptr(i, op),
                            dt.ptr(e, op),
                            dt.ptr(logO, op),
                            dt.ptr(s, op),
                            f32,
                            strides,
                            null,
                            lf,
                            la,
                            null,
                            t,
                            k,
                            d);
            kernel(k, "lcsm_carry")
                    .launch(
                            dt.stream(),
                            (k * d + 255) / 256,
                            b,
                            1,
                            256,
                            0,
                            lf,
                            la,
                            null,
                            dt.ptr(m0, op),
                            null,
                            f32,
                            dt.ptr(mT, op),
                            null,
                            nc,
                            k,
                            d);
            kernel(k, "lcsm_fwd")
                    .launch(
                            dt.stream(),
                            (d + 31) / 32,
                            nc,
                            b,
                            threads(k),
                            smem(k, false),
                            dt.ptr(i, op),
                            dt.ptr(e, op),
                            dt.ptr(logO, op),
                            dt.ptr(s, op),
                            f32,
                            strides,
                            lf,
                            dt.ptr(y, op),
                            t,
                            k,
                            d);
        }
    }

    /** Gradients from dy [B, T, d] and, when not null, dmT [B, k, d] (both contiguous, i's dtype). */
    public Gradients backward(Tensor i, Tensor e, Tensor logO, Tensor s, Tensor m0, Tensor dy, Tensor dmT) {
        String op = "lcsm.backward";
        int[] f = validate(op, i, e, logO, s, m0);
        int b = f[0], t = f[1], k = f[2], d = f[3];
        if (dy == null || !Arrays.equals(dy.shape(), new int[] {b, t, d}) || dy.dtype() != i.dtype()) {
            throw new IllegalArgumentException(op + ": dy must be " + i.dtype() + " [" + b + ", " + t + ", " + d
                    + "], got " + (dy == null ? "null" : dy.describe()));
        }
        if (dmT != null && (!Arrays.equals(dmT.shape(), new int[] {b, k, d}) || dmT.dtype() != i.dtype())) {
            throw new IllegalArgumentException(
                    op + ": dmT must be " + i.dtype() + " [" + b + ", " + k + ", " + d + "], got " + dmT.describe());
        }
        onDevice(op, i, e, logO, s, m0, dy, dmT);
        dt.requireDense(op, "m0", m0);
        dt.requireDense(op, "dy", dy);
        dt.requireDense(op, "dmT", dmT);
        dt.context().bind();
        Tensor di = dt.alloc(i.dtype(), b, t, d);
        Tensor de = dt.alloc(i.dtype(), b, t, k, d),
                dlo = dt.alloc(i.dtype(), b, t, k, d),
                ds = dt.alloc(i.dtype(), b, t, k, d);
        Tensor dm0 = m0 == null ? null : dt.alloc(i.dtype(), b, k, d);
        int nc = chunks(op, t), f32 = i.dtype() == DType.F32 ? 1 : 0;
        long carry = 4L * b * nc * k * d;
        KernelStruct strides = strides(i, e, logO, s);
        try (DeviceBuffer lf = dt.scratch(carry);
                DeviceBuffer la = dt.scratch(carry);
                DeviceBuffer lb = dt.scratch(carry)) {
            kernel(k, "lcsm_local")
                    .launch(
                            dt.stream(),
                            (d + 31) / 32,
                            nc,
                            b,
                            threads(k),
                            0,
                            dt.ptr(i, op),
                            dt.ptr(e, op),
                            dt.ptr(logO, op),
                            dt.ptr(s, op),
                            f32,
                            strides,
                            dt.ptr(dy, op),
                            lf,
                            la,
                            lb,
                            t,
                            k,
                            d);
            kernel(k, "lcsm_carry")
                    .launch(
                            dt.stream(),
                            (k * d + 255) / 256,
                            b,
                            1,
                            256,
                            0,
                            lf,
                            la,
                            lb,
                            dt.ptr(m0, op),
                            dt.ptr(dmT, op),
                            f32,
                            null,
                            dt.ptr(dm0, op),
                            nc,
                            k,
                            d);
            kernel(k, "lcsm_bwd")
                    .launch(
                            dt.stream(),
                            (d + 31) / 32,
                            nc,
                            b,
                            threads(k),
                            smem(k, true),
                            dt.ptr(i, op),
                            dt.ptr(e, op),
                            dt.ptr(logO, op),
                            dt.ptr(s, op),
                            f32,
                            strides,
                            dt.ptr(dy, op),
                            lf,
                            lb,
                            dt.ptr(di, op),
                            dt.ptr(de, op),
                            dt.ptr(dlo, op),
                            dt.ptr(ds, op),
                            t,
                            k,
                            d);
        }
        return new Gradients(di, de, dlo, ds, dm0);
    }
}
