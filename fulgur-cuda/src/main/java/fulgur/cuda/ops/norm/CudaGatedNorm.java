package fulgur.cuda.ops.norm;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.ops.KernelChoice;
import fulgur.ops.GatedNormKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link GatedNormKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): RMSNorm and its gate in one
 * row kernel each way ({@code nn_rmsnorm_gated}, {@code nn_rmsnorm_gated_bwd} in nn.cu, f64 row sums as the backend's
 * RMSNorm; for bf16 rows of a multiple of 4 columns their {@code _v_bf16} forms, f32 math and four columns per load),
 * the gain's gradient by column partials. The gate z and its gradient dz may be column slices of wider tensors.
 */
public final class CudaGatedNorm implements GatedNormKernels {
    private static final String NN = "nn.cu";
    private final Gpu g;

    public CudaGatedNorm(Gpu g) {
        this.g = g;
    }

    public static CudaGatedNorm on(Device device) {
        return new CudaGatedNorm(CudaBackend.of(device).gpu());
    }

    @Override
    public boolean supports(Tensor x, Tensor z) {
        boolean ok = x.ndim() >= 1 && x.numel() > 0 && x.size(x.ndim() - 1) > 0;
        return KernelChoice.note("gated rmsnorm", ok, ok ? "one pass (" + x.dtype() + ")" : "empty input");
    }

    /**
     * Whether the bf16 kernels with four columns per load apply: every row operand bf16, cols and the row strides
     * multiples of 4, bases 8-byte aligned.
     */
    private boolean vectorised(String op, int cols, Tensor... rowOperands) {
        if (cols % 4 != 0) return false;
        for (Tensor t : rowOperands) {
            if (t.dtype() != DType.BF16
                    || Gpu.rowStride(t) % 4 != 0
                    || (g.ptr(t, op).address() & 7) != 0) return false;
        }
        return true;
    }

    private static int act(Gate a) {
        return switch (a) {
            case NONE -> 0;
            case SILU -> 1;
            case SIGMOID -> 2;
        };
    }

    @Override
    public Tensor[] forward(Tensor x, Tensor gain, Tensor z, Gate act, double eps) {
        String op = "rmsNormGated";
        g.check(op, x);
        g.check(op, z);
        g.bind();
        int cols = x.size(x.ndim() - 1);
        long rows = x.numel() / cols;
        Tensor xc = g.contiguous(op, x), zc = g.rows(op, z), gc = gain == null ? null : g.contiguous(op, gain);
        Tensor y = g.alloc(x.dtype(), x.shape());
        Tensor rstd = g.alloc(x.dtype() == DType.F64 ? DType.F64 : DType.F32, new int[] {(int) rows});
        if (vectorised(op, cols, xc, zc, y)) {
            g.launchRows(
                    g.kernel(NN, "nn_rmsnorm_gated_v_bf16"),
                    rows,
                    Gpu.rowThreads(cols / 4),
                    g.ptr(xc, op),
                    gc == null ? null : g.ptr(gc, op),
                    gc == null ? 0 : Gpu.code(gc.dtype()),
                    g.ptr(zc, op),
                    Gpu.rowStride(zc),
                    act(act),
                    g.ptr(y, op),
                    g.ptr(rstd, op),
                    rows,
                    cols,
                    eps);
        } else {
            g.launchRows(
                    g.kernel(NN, "nn_rmsnorm_gated"),
                    rows,
                    Gpu.rowThreads(cols),
                    g.ptr(xc, op),
                    Gpu.code(x.dtype()),
                    gc == null ? null : g.ptr(gc, op),
                    gc == null ? 0 : Gpu.code(gc.dtype()),
                    g.ptr(zc, op),
                    Gpu.code(z.dtype()),
                    Gpu.rowStride(zc),
                    act(act),
                    g.ptr(y, op),
                    Gpu.code(y.dtype()),
                    g.ptr(rstd, op),
                    Gpu.code(rstd.dtype()),
                    rows,
                    cols,
                    eps);
        }
        Gpu.freeTemp(xc, x);
        Gpu.freeTemp(zc, z);
        if (gc != null) Gpu.freeTemp(gc, gain);
        return new Tensor[] {y, rstd};
    }

    @Override
    public Tensor[] backward(Tensor x, Tensor gain, Tensor z, Gate act, Tensor rstd, Tensor dy) {
        Tensor dz = g.alloc(z.dtype(), z.shape());
        Tensor[] r = backwardInto(x, gain, z, act, rstd, dy, dz);
        return new Tensor[] {r[0], r[1], dz};
    }

    /**
     * {@link #backward} writing dz into {@code dz} (z's shape and dtype, rows one stride apart: e.g. a column slice of
     * a fused projection's gradient). Returns {dx, d gain (null without a gain)}.
     */
    public Tensor[] backwardInto(Tensor x, Tensor gain, Tensor z, Gate act, Tensor rstd, Tensor dy, Tensor dz) {
        String op = "rmsNormGated.backward";
        g.check(op, x);
        g.check(op, dz);
        g.bind();
        int cols = x.size(x.ndim() - 1);
        long rows = x.numel() / cols;
        if (!dz.sameShape(z) || dz.dtype() != z.dtype() || Gpu.rowStride(dz) < 0) {
            throw new IllegalArgumentException(op + ": dz " + dz.describe() + " must be z's shape and dtype ("
                    + z.describe() + ") with its rows one stride apart");
        }
        Tensor xc = g.contiguous(op, x),
                zc = g.rows(op, z),
                gc = gain == null ? null : g.contiguous(op, gain),
                dyc = g.contiguous(op, dy);
        Tensor dx = g.alloc(x.dtype(), x.shape());
        if (vectorised(op, cols, xc, zc, dyc, dx, dz) && rstd.dtype() == DType.F32) {
            g.launchRows(
                    g.kernel(NN, "nn_rmsnorm_gated_bwd_v_bf16"),
                    rows,
                    Gpu.rowThreads(cols / 4),
                    g.ptr(xc, op),
                    gc == null ? null : g.ptr(gc, op),
                    gc == null ? 0 : Gpu.code(gc.dtype()),
                    g.ptr(zc, op),
                    Gpu.rowStride(zc),
                    act(act),
                    g.ptr(rstd, op),
                    g.ptr(dyc, op),
                    g.ptr(dx, op),
                    g.ptr(dz, op),
                    Gpu.rowStride(dz),
                    rows,
                    cols);
        } else {
            g.launchRows(
                    g.kernel(NN, "nn_rmsnorm_gated_bwd"),
                    rows,
                    Gpu.rowThreads(cols),
                    g.ptr(xc, op),
                    Gpu.code(x.dtype()),
                    gc == null ? null : g.ptr(gc, op),
                    gc == null ? 0 : Gpu.code(gc.dtype()),
                    g.ptr(zc, op),
                    Gpu.code(z.dtype()),
                    Gpu.rowStride(zc),
                    act(act),
                    g.ptr(rstd, op),
                    Gpu.code(rstd.dtype()),
                    g.ptr(dyc, op),
                    Gpu.code(dy.dtype()),
                    g.ptr(dx, op),
                    Gpu.code(dx.dtype()),
                    g.ptr(dz, op),
                    Gpu.code(dz.dtype()),
                    Gpu.rowStride(dz),
                    rows,
                    cols);
        }
        Tensor dgain = null;
        if (gain != null) {
            dgain = g.alloc(gain.dtype(), gain.shape());
            int splits = (int) Math.max(
                    1,
                    Math.min(Math.min(1024, (rows + 63) / 64), (g.multiprocessors() * 2048L) / Math.max(1, cols) + 1));
            try (DeviceBuffer part = g.ctx.allocate(8L * cols * splits, g.stream)) {
                g.kernel(NN, "nn_rmsnorm_gated_param_partial")
                        .launch(
                                g.stream,
                                (cols + Gpu.THREADS - 1) / Gpu.THREADS,
                                splits,
                                1,
                                Gpu.THREADS,
                                0,
                                g.ptr(xc, op),
                                Gpu.code(x.dtype()),
                                g.ptr(zc, op),
                                Gpu.code(z.dtype()),
                                Gpu.rowStride(zc),
                                act(act),
                                g.ptr(rstd, op),
                                Gpu.code(rstd.dtype()),
                                g.ptr(dyc, op),
                                Gpu.code(dy.dtype()),
                                rows,
                                cols,
                                splits,
                                part);
                g.launch(
                        g.kernel(NN, "nn_sum_splits"),
                        cols,
                        part,
                        splits,
                        0,
                        cols,
                        g.ptr(dgain, op),
                        Gpu.code(dgain.dtype()));
            }
        }
        Gpu.freeTemp(xc, x);
        Gpu.freeTemp(zc, z);
        if (gc != null) Gpu.freeTemp(gc, gain);
        Gpu.freeTemp(dyc, dy);
        return new Tensor[] {dx, dgain};
    }
}
