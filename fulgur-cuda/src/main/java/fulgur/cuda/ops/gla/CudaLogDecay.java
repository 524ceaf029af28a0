package fulgur.cuda.ops.gla;

import fulgur.cuda.CudaBackend;
import fulgur.cuda.DeviceBuffer;
import fulgur.cuda.backend.Gpu;
import fulgur.cuda.ops.KernelChoice;
import fulgur.ops.gla.LogDecayKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Device;
import fulgur.tensor.Tensor;

/**
 * The CUDA {@link LogDecayKernels} (registered by {@link fulgur.cuda.CudaKernelProvider}): the log decay and key of a
 * forget gate in one elementwise pass ({@code nn_log_decay} in nn.cu, f32 arithmetic, f64 for f64), the backward in one
 * pass with the lower bound's gradient summed over rows as column partials.
 */
public final class CudaLogDecay implements LogDecayKernels {
    private static final String NN = "nn.cu";
    private final Gpu g;

    public CudaLogDecay(Gpu g) {
        this.g = g;
    }

    public static CudaLogDecay on(Device device) {
        return new CudaLogDecay(CudaBackend.of(device).gpu());
    }

    @Override
    public boolean supports(Tensor f, Tensor beta) {
        boolean ok = f.numel() > 0 && f.size(f.ndim() - 1) > 0;
        return KernelChoice.note(
                "gla log decay",
                ok,
                ok ? "one pass (" + f.dtype() + " gate" + (beta == null ? "" : ", lower bound") + ")" : "empty input");
    }

    private static boolean f64(Tensor f) {
        return f.dtype() == DType.F64;
    }

    @Override
    public Tensor[] forward(Tensor f, Tensor beta, double tau) {
        String op = "logDecay";
        g.check(op, f);
        g.bind();
        int d = f.size(f.ndim() - 1);
        Tensor bc = beta == null ? null : g.contiguous(op, beta);
        Tensor lg = g.alloc(f64(f) ? DType.F64 : DType.F32, f.shape());
        Tensor k = g.alloc(f.dtype(), f.shape());
        g.launch(
                g.kernel(NN, f64(f) ? "nn_log_decay_d" : "nn_log_decay_f"),
                f.numel(),
                g.ptr(f, op),
                Gpu.code(f.dtype()),
                bc == null ? null : g.ptr(bc, op),
                bc == null ? 0 : Gpu.code(bc.dtype()),
                1 / tau,
                g.ptr(lg, op),
                Gpu.code(lg.dtype()),
                g.ptr(k, op),
                Gpu.code(k.dtype()),
                f.numel(),
                d);
        if (bc != null) Gpu.freeTemp(bc, beta);
        return new Tensor[] {lg, k};
    }

    @Override
    public Tensor[] backward(Tensor f, Tensor beta, double tau, Tensor dg, Tensor dk) {
        String op = "logDecay.backward";
        g.check(op, f);
        g.bind();
        int d = f.size(f.ndim() - 1);
        long rows = f.numel() / d;
        Tensor bc = beta == null ? null : g.contiguous(op, beta);
        Tensor dgc = dg == null ? null : g.contiguous(op, dg), dkc = dk == null ? null : g.contiguous(op, dk);
        Tensor df = g.alloc(f.dtype(), f.shape());
        Tensor db = beta == null ? null : g.alloc(beta.dtype(), beta.shape());
        int splits =
                (int) Math.max(1, Math.min(Math.min(1024, (rows + 63) / 64), (g.multiprocessors() * 2048L) / d + 1));
        try (DeviceBuffer part = beta == null ? null : g.ctx.allocate(8L * d * splits, g.stream)) {
            g.kernel(NN, f64(f) ? "nn_log_decay_bwd_d" : "nn_log_decay_bwd_f")
                    .launch(
                            g.stream,
                            (d + Gpu.THREADS - 1) / Gpu.THREADS,
                            splits,
                            1,
                            Gpu.THREADS,
                            0,
                            g.ptr(f, op),
                            Gpu.code(f.dtype()),
                            bc == null ? null : g.ptr(bc, op),
                            bc == null ? 0 : Gpu.code(bc.dtype()),
                            1 / tau,
                            dgc == null ? null : g.ptr(dgc, op),
                            dgc == null ? 0 : Gpu.code(dgc.dtype()),
                            dkc == null ? null : g.ptr(dkc, op),
                            dkc == null ? 0 : Gpu.code(dkc.dtype()),
                            g.ptr(df, op),
                            Gpu.code(df.dtype()),
                            rows,
                            d,
                            splits,
                            part);
            if (db != null)
                g.launch(g.kernel(NN, "nn_sum_splits"), d, part, splits, 0, d, g.ptr(db, op), Gpu.code(db.dtype()));
        } finally {
            if (bc != null) Gpu.freeTemp(bc, beta);
            if (dgc != null) Gpu.freeTemp(dgc, dg);
            if (dkc != null) Gpu.freeTemp(dkc, dk);
        }
        return new Tensor[] {df, db};
    }
}
