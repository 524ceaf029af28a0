package fulgur.cuda.backend;

import fulgur.cuda.DeviceBuffer;
import fulgur.tensor.DType;
import fulgur.tensor.Shape;
import fulgur.tensor.Tensor;

/** Row-wise kernels (nn.cu): softmax, cross-entropy, embedding, RMSNorm and LayerNorm, forward and backward. */
public final class CudaNn {
    private CudaNn() {}

    static final String NN = "nn.cu";

    /** A contiguous view of x as rows × cols over its last axis (a temporary copy when x is strided). */
    private record Rows(Tensor t, Tensor original, DType mt, long rows, int cols) {
        static Rows of(Gpu g, String op, Tensor x) {
            g.check(op, x);
            if (!x.dtype().isFloating())
                throw new IllegalArgumentException(op + ": expected a floating tensor, got " + x.describe());
            if (x.ndim() == 0)
                throw new IllegalArgumentException(op + ": expected at least one dimension, got " + x.describe());
            int cols = x.size(-1);
            long rows = cols == 0 ? 0 : x.numel() / cols;
            return new Rows(g.contiguous(op, x), x, CudaElementwise.mathType(x.dtype()), rows, cols);
        }

        void free() {
            Gpu.freeTemp(t, original);
        }
    }

    private static boolean f64(DType mt) {
        return mt == DType.F64;
    }

    /**
     * Weight-only int8 product y [M, N] = x [M, K] · (diag(scale)·q)ᵀ (x, scale f32, q i8, all contiguous): a warp per
     * output channel streaming its int8 row for few rows (decoding), 64×64 shared-memory tiles with the weights widened
     * on the way for many (prefill).
     */
    public static Tensor matmulInt8(Gpu g, Tensor x, Tensor q, Tensor scale) {
        String op = "matmulInt8";
        g.check(op, x);
        g.check(op, q);
        g.check(op, scale);
        if (x.dtype() != DType.F32
                || q.dtype() != DType.I8
                || scale.dtype() != DType.F32
                || !x.isContiguous()
                || !q.isContiguous()
                || !scale.isContiguous()
                || x.ndim() != 2
                || q.ndim() != 2
                || x.size(1) != q.size(1)
                || scale.numel() != q.size(0)) {
            throw new IllegalArgumentException(
                    op + ": expected contiguous x f32 [M, K], q i8 [N, K] and scale f32 [N], got " + x.describe() + ", "
                            + q.describe() + ", " + scale.describe());
        }
        int m = x.size(0), k = x.size(1), n = q.size(0);
        Tensor y = g.alloc(DType.F32, new int[] {m, n});
        if (m == 0 || n == 0) return y;
        var xp = g.ptr(x, op);
        var qp = g.ptr(q, op);
        if (m <= 8) {
            int vec4 = k % 4 == 0 && xp.address() % 16 == 0 && qp.address() % 4 == 0 ? 1 : 0;
            g.kernel(NN, "nn_q8_gemv")
                    .launch(g.stream, (n + 7) / 8, 1, 1, 256, 0, xp, qp, g.ptr(scale, op), g.ptr(y, op), m, n, k, vec4);
        } else {
            g.kernel(NN, "nn_q8_gemm")
                    .launch(
                            g.stream,
                            (n + 63) / 64,
                            (m + 63) / 64,
                            1,
                            256,
                            0,
                            xp,
                            qp,
                            g.ptr(scale, op),
                            g.ptr(y, op),
                            m,
                            n,
                            k);
        }
        return y;
    }

    /** silu(gate)·up in one kernel; the default composition when shapes or dtypes differ. */
    public static Tensor siluMul(Gpu g, Tensor gate, Tensor up) {
        String op = "siluMul";
        Rows a = Rows.of(g, op, gate);
        Rows b = Rows.of(g, op, up);
        if (!gate.sameShape(up) || gate.dtype() != up.dtype()) {
            a.free();
            b.free();
            throw new IllegalArgumentException(op + ": gate " + gate.describe() + " and up " + up.describe()
                    + " must have the same shape and dtype");
        }
        Tensor y = g.alloc(gate.dtype(), gate.shape());
        g.launch(
                g.kernel(NN, f64(a.mt) ? "nn_silu_mul_d" : "nn_silu_mul_f"),
                gate.numel(),
                g.ptr(a.t, op),
                Gpu.code(gate.dtype()),
                g.ptr(b.t, op),
                Gpu.code(up.dtype()),
                g.ptr(y, op),
                Gpu.code(y.dtype()),
                gate.numel());
        a.free();
        b.free();
        return y;
    }

    public static Tensor[] siluMulBackward(Gpu g, Tensor gate, Tensor up, Tensor dy) {
        String op = "siluMulBackward";
        if (!gate.sameShape(up) || !gate.sameShape(dy)) {
            throw new IllegalArgumentException(op + ": gate " + gate.describe() + ", up " + up.describe()
                    + " and gradient " + dy.describe() + " must have the same shape");
        }
        Rows a = Rows.of(g, op, gate);
        Rows b = Rows.of(g, op, up);
        Rows d = Rows.of(g, op, dy);
        Tensor dg = g.alloc(gate.dtype(), gate.shape());
        Tensor du = g.alloc(up.dtype(), up.shape());
        g.launch(
                g.kernel(NN, f64(a.mt) ? "nn_silu_mul_bwd_d" : "nn_silu_mul_bwd_f"),
                gate.numel(),
                g.ptr(a.t, op),
                Gpu.code(gate.dtype()),
                g.ptr(b.t, op),
                Gpu.code(up.dtype()),
                g.ptr(d.t, op),
                Gpu.code(dy.dtype()),
                g.ptr(dg, op),
                Gpu.code(dg.dtype()),
                g.ptr(du, op),
                Gpu.code(du.dtype()),
                gate.numel());
        a.free();
        b.free();
        d.free();
        return new Tensor[] {dg, du};
    }

    public static Tensor softmax(Gpu g, Tensor x, boolean log) {
        String op = log ? "logSoftmax" : "softmax";
        Rows in = Rows.of(g, op, x);
        Tensor out = g.alloc(x.dtype(), x.shape());
        g.launchRows(
                g.kernel(NN, f64(in.mt) ? "nn_softmax_d" : "nn_softmax_f"),
                in.rows,
                Gpu.rowThreads(in.cols),
                g.ptr(in.t, op),
                Gpu.code(x.dtype()),
                g.ptr(out, op),
                Gpu.code(out.dtype()),
                in.rows,
                in.cols,
                log ? 1 : 0);
        in.free();
        return out;
    }

    public static Tensor softmaxBackward(Gpu g, Tensor y, Tensor dy, boolean log) {
        String op = log ? "logSoftmaxBackward" : "softmaxBackward";
        Rows ys = Rows.of(g, op, y);
        Rows gs = Rows.of(g, op, dy);
        if (!y.sameShape(dy))
            throw new IllegalArgumentException(
                    op + ": gradient " + dy.describe() + " does not match output " + y.describe());
        Tensor out = g.alloc(y.dtype(), y.shape());
        g.launchRows(
                g.kernel(NN, "nn_softmax_bwd"),
                ys.rows,
                Gpu.rowThreads(ys.cols),
                g.ptr(ys.t, op),
                Gpu.code(y.dtype()),
                g.ptr(gs.t, op),
                Gpu.code(dy.dtype()),
                g.ptr(out, op),
                Gpu.code(out.dtype()),
                ys.rows,
                ys.cols,
                log ? 1 : 0);
        ys.free();
        gs.free();
        return out;
    }

    // ------------------------------------------------------------------ cross-entropy

    private static Tensor targets(Gpu g, String op, Rows in, Tensor targets) {
        Tensor t = g.index(op, targets);
        if (targets.numel() != in.rows) {
            throw new IllegalArgumentException(op + ": " + targets.numel() + " targets for " + in.rows
                    + " rows of logits " + in.original.describe());
        }
        return t;
    }

    private static void reportTarget(Gpu g, String op, Gpu.Flag err, Tensor t, int cols, int ignoreIndex) {
        g.checkFlag(
                err,
                t,
                (v, bad) -> new IndexOutOfBoundsException(op + ": target " + (v == null ? "" : v + " ") + "at row "
                        + bad + " is outside [0, " + cols + ") and is not the ignore index " + ignoreIndex));
    }

    /** "op: id 7 at position 3 is outside the vocabulary [0, 5)". */
    private static DeviceChecks.Failure badId(String op, int vocab) {
        return (v, bad) -> new IndexOutOfBoundsException(op + ": id " + (v == null ? "" : v + " ") + "at position "
                + bad + " is outside the vocabulary [0, " + vocab + ")");
    }

    /** out ← the mean of the per-row losses over the rows whose target is not the ignore index (one block). */
    private static void meanLoss(
            Gpu g, String op, DeviceBuffer rowLoss, Tensor t, long rows, int ignoreIndex, Tensor out) {
        g.kernel(NN, "nn_ce_reduce")
                .launch(
                        g.stream,
                        1,
                        1,
                        1,
                        1024,
                        0,
                        rowLoss,
                        g.ptr(t, op),
                        Gpu.code(t.dtype()),
                        rows,
                        ignoreIndex,
                        g.ptr(out, op),
                        Gpu.code(out.dtype()),
                        null);
    }

    public static Tensor crossEntropy(Gpu g, Tensor logits, Tensor targets, int ignoreIndex, double smoothing) {
        String op = "crossEntropy";
        Rows in = Rows.of(g, op, logits);
        Tensor t = targets(g, op, in, targets);
        Tensor out = g.alloc(in.mt, new int[0]);
        Gpu.Flag err = g.errorFlag();
        try (DeviceBuffer rowLoss = g.ctx.allocate(8 * Math.max(1, in.rows), g.stream)) {
            g.launchRows(
                    g.kernel(NN, f64(in.mt) ? "nn_ce_fwd_d" : "nn_ce_fwd_f"),
                    in.rows,
                    Gpu.rowThreads(in.cols),
                    g.ptr(in.t, op),
                    Gpu.code(logits.dtype()),
                    g.ptr(t, op),
                    Gpu.code(t.dtype()),
                    in.rows,
                    in.cols,
                    ignoreIndex,
                    smoothing,
                    rowLoss,
                    err);
            meanLoss(g, op, rowLoss, t, in.rows, ignoreIndex, out);
        }
        try {
            reportTarget(g, op, err, t, in.cols, ignoreIndex);
        } finally {
            in.free();
            Gpu.freeTemp(t, targets);
        }
        return out;
    }

    public static Tensor crossEntropyBackward(
            Gpu g, Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
        String op = "crossEntropyBackward";
        g.check(op, gradOut);
        if (gradOut.numel() != 1 || !gradOut.dtype().isFloating()) {
            throw new IllegalArgumentException(
                    op + ": gradOut must be a one-element floating tensor, got " + gradOut.describe());
        }
        Rows in = Rows.of(g, op, logits);
        Tensor t = targets(g, op, in, targets);
        Tensor out = g.alloc(logits.dtype(), logits.shape());
        Gpu.Flag err = g.errorFlag();
        try (DeviceBuffer count = g.ctx.allocate(8, g.stream)) {
            g.kernel(NN, "nn_ce_count")
                    .launch(g.stream, 1, 1, 1, 1024, 0, g.ptr(t, op), Gpu.code(t.dtype()), in.rows, ignoreIndex, count);
            g.launchRows(
                    g.kernel(NN, f64(in.mt) ? "nn_ce_bwd_d" : "nn_ce_bwd_f"),
                    in.rows,
                    Gpu.rowThreads(in.cols),
                    g.ptr(in.t, op),
                    Gpu.code(logits.dtype()),
                    g.ptr(t, op),
                    Gpu.code(t.dtype()),
                    in.rows,
                    in.cols,
                    ignoreIndex,
                    smoothing,
                    g.ptr(gradOut, op),
                    Gpu.code(gradOut.dtype()),
                    count,
                    g.ptr(out, op),
                    Gpu.code(out.dtype()),
                    err);
        }
        try {
            reportTarget(g, op, err, t, in.cols, ignoreIndex);
        } finally {
            in.free();
            Gpu.freeTemp(t, targets);
        }
        return out;
    }

    /**
     * Whether {@link #crossEntropyWithGradient} takes these logits: bf16, contiguous, rows of a multiple of 8 columns,
     * 16-byte aligned.
     */
    public static boolean fusedCrossEntropy(Gpu g, Tensor logits) {
        if (logits.dtype() != DType.BF16 || !logits.isContiguous() || logits.ndim() != 2) return false;
        int cols = logits.size(1);
        return cols > 0 && cols % 8 == 0 && (g.ptr(logits, "crossEntropy").address() & 15) == 0;
    }

    /**
     * {@link #crossEntropy} and {@link #crossEntropyBackward} of the same logits in one kernel
     * ({@code nn_ce_fused_bf16}: each row read from device memory once, its gradient written once). Logits as
     * {@link #fusedCrossEntropy} takes. Returns {mean loss (f32 scalar), d logits (bf16)}.
     */
    public static Tensor[] crossEntropyWithGradient(
            Gpu g, Tensor logits, Tensor targets, int ignoreIndex, double smoothing, Tensor gradOut) {
        String op = "crossEntropy";
        g.check(op, gradOut);
        if (!fusedCrossEntropy(g, logits)) {
            throw new IllegalArgumentException(op
                    + ": the one-kernel loss and gradient take contiguous bf16 [rows, cols] logits with"
                    + " cols a multiple of 8, got " + logits.describe());
        }
        if (gradOut.numel() != 1 || !gradOut.dtype().isFloating()) {
            throw new IllegalArgumentException(
                    op + ": gradOut must be a one-element floating tensor, got " + gradOut.describe());
        }
        Rows in = Rows.of(g, op, logits);
        Tensor t = targets(g, op, in, targets);
        Tensor loss = g.alloc(DType.F32, new int[0]);
        Tensor dx = g.alloc(DType.BF16, logits.shape());
        Gpu.Flag err = g.errorFlag();
        try (DeviceBuffer rowLoss = g.ctx.allocate(8 * Math.max(1, in.rows), g.stream);
                DeviceBuffer count = g.ctx.allocate(8, g.stream)) {
            g.kernel(NN, "nn_ce_count")
                    .launch(g.stream, 1, 1, 1, 1024, 0, g.ptr(t, op), Gpu.code(t.dtype()), in.rows, ignoreIndex, count);
            // a thread per 16-byte group of a row, up to 512, and as many rows at once as keep them within half of
            // L2 (the second pass reads them there), one per multiprocessor at least
            int threads = (int) Math.clamp((in.cols / 8 + 31) / 32 * 32L, 32, 512);
            long inL2 = g.ctx.device().l2Bytes() / 2 / (2L * in.cols);
            long blocks = Math.clamp(inL2, g.multiprocessors(), (long) g.multiprocessors() * (2048 / threads));
            int grid = (int) Math.min(in.rows, blocks);
            g.kernel(NN, "nn_ce_fused_bf16")
                    .launch(
                            g.stream,
                            grid,
                            1,
                            1,
                            threads,
                            0,
                            g.ptr(in.t, op),
                            g.ptr(t, op),
                            Gpu.code(t.dtype()),
                            in.rows,
                            in.cols,
                            ignoreIndex,
                            smoothing,
                            g.ptr(gradOut, op),
                            Gpu.code(gradOut.dtype()),
                            count,
                            rowLoss,
                            g.ptr(dx, op),
                            err);
            meanLoss(g, op, rowLoss, t, in.rows, ignoreIndex, loss);
        }
        try {
            reportTarget(g, op, err, t, in.cols, ignoreIndex);
        } finally {
            in.free();
            Gpu.freeTemp(t, targets);
        }
        return new Tensor[] {loss, dx};
    }

    // ------------------------------------------------------------------ embedding

    public static Tensor embedding(Gpu g, Tensor weight, Tensor ids) {
        String op = "embedding";
        g.check(op, weight);
        Tensor id = g.index(op, ids);
        if (weight.ndim() != 2)
            throw new IllegalArgumentException(op + ": weight must be [vocab, dim], got " + weight.describe());
        int vocab = weight.size(0);
        int dim = weight.size(1);
        Tensor w = g.contiguous(op, weight);
        Tensor out = g.alloc(weight.dtype(), Shape.concat(ids.shape(), dim));
        long n = ids.numel();
        int es = weight.dtype().byteSize();
        long wp = g.ptr(w, op).address();
        boolean vec16 = ((long) dim * es) % 16 == 0 && wp % 16 == 0;
        Gpu.Flag err = g.errorFlag();
        g.launchRows(
                g.kernel(NN, "nn_embedding"),
                n,
                Math.min(256, Gpu.rowThreads(vec16 ? (long) dim * es / 16 : dim)),
                g.ptr(w, op),
                es,
                g.ptr(id, op),
                Gpu.code(id.dtype()),
                g.ptr(out, op),
                n,
                dim,
                (long) vocab,
                vec16 ? 1 : 0,
                err);
        Gpu.freeTemp(w, weight);
        try {
            g.checkFlag(err, id, badId(op, vocab));
        } finally {
            Gpu.freeTemp(id, ids);
        }
        return out;
    }

    // ------------------------------------------------------------------ norms

    private static Tensor param(Gpu g, String op, Tensor p, int cols) {
        if (p == null) return null;
        g.check(op, p);
        if (p.ndim() != 1 || p.size(0) != cols) {
            throw new IllegalArgumentException(
                    op + ": expected a parameter of shape [" + cols + "], got " + p.describe());
        }
        return g.contiguous(op, p);
    }

    /**
     * The 4-wide f32/bf16 row kernels apply: contiguous rows of a multiple of 4 (nulls skipped), aligned, gain (if any)
     * of the same dtype.
     */
    private static boolean vectorRows(Gpu g, String op, Rows in, Tensor gain, Tensor... rows) {
        DType dt = in.t.dtype();
        if ((dt != DType.F32 && dt != DType.BF16) || in.cols % 4 != 0 || in.rows == 0) return false;
        int align = dt == DType.F32 ? 16 : 8;
        for (Tensor t : rows) {
            if (t != null
                    && (t.dtype() != dt || !t.isContiguous() || g.ptr(t, op).address() % align != 0)) return false;
        }
        return gain == null
                || (gain.dtype() == dt && gain.isContiguous() && g.ptr(gain, op).address() % align == 0);
    }

    /** Rows per block of the warp-per-row kernels (one warp each). */
    private static final int WARP_ROWS = 8;

    /**
     * Sixteen-byte vectors per lane (1..8) when every row operand (nulls skipped) and the gain suit the warp-per-row
     * RMSNorm kernels (f32 or bf16 of one dtype, contiguous, 16-byte aligned, cols a multiple of 32 vectors); 0
     * otherwise.
     */
    private static int warpRowVectors(Gpu g, String op, Rows in, Tensor gain, Tensor... rows) {
        return warpRowVectors(g, op, in.t.dtype(), in.rows, in.cols, gain, rows);
    }

    private static int warpRowVectors(Gpu g, String op, DType dt, long nRows, int cols, Tensor gain, Tensor... rows) {
        if ((dt != DType.F32 && dt != DType.BF16) || nRows == 0) return 0;
        int perVector = 16 / dt.byteSize();
        if (cols % (32 * perVector) != 0) return 0;
        int nv = cols / (32 * perVector);
        if (nv < 1 || nv > 8) return 0;
        for (Tensor t : rows) {
            if (t != null
                    && (t.dtype() != dt || !t.isContiguous() || g.ptr(t, op).address() % 16 != 0)) return 0;
        }
        if (gain != null
                && (gain.dtype() != dt
                        || !gain.isContiguous()
                        || g.ptr(gain, op).address() % 16 != 0)) return 0;
        return nv;
    }

    /**
     * Launches {@code family}'s row kernel for f32/bf16 rows: one warp a row ({@code _w_<dtype>_<nv>}) when nv > 0,
     * else four columns per load and a block a row ({@code _v_<dtype>}); both take the same arguments.
     */
    private static void launchVectorRows(Gpu g, String family, int nv, Rows in, Object... args) {
        String dt = CudaElementwise.tn(in.t.dtype());
        if (nv > 0) {
            launchWarpRows(g, family + "_w_" + dt + "_" + nv, in.rows, args);
        } else {
            g.launchRows(g.kernel(NN, family + "_v_" + dt), in.rows, Gpu.rowThreads(in.cols / 4), args);
        }
    }

    /** Launches a warp-per-row kernel over {@code rows} rows, {@link #WARP_ROWS} rows a block. */
    private static void launchWarpRows(Gpu g, String kernel, long rows, Object... args) {
        long blocks = (rows + WARP_ROWS - 1) / WARP_ROWS;
        int grid = (int) Math.min(blocks, (long) g.multiprocessors() * 32);
        g.kernel(NN, kernel).launch(g.stream, grid, 1, 1, 32 * WARP_ROWS, 0, args);
    }

    /** A norm backward's addend, contiguous (null for none); it must match x. */
    private static Tensor addend(Gpu g, String op, Tensor x, Tensor addend) {
        if (addend == null) return null;
        g.check(op, addend);
        if (!addend.sameShape(x) || addend.dtype() != x.dtype()) {
            throw new IllegalArgumentException(
                    op + ": addend " + addend.describe() + " does not match the input " + x.describe());
        }
        return g.contiguous(op, addend);
    }

    private static int[] statShape(Tensor x) {
        int[] rs = x.shape();
        rs[rs.length - 1] = 1;
        return rs;
    }

    public static Tensor[] rmsNorm(Gpu g, Tensor x, Tensor gain, double eps) {
        String op = "rmsNorm";
        Rows in = Rows.of(g, op, x);
        Tensor gn = param(g, op, gain, in.cols);
        Tensor y = g.alloc(x.dtype(), x.shape());
        Tensor rstd = g.alloc(in.mt, statShape(x));
        int nv = warpRowVectors(g, op, in, gn, in.t, y);
        if (nv > 0 || vectorRows(g, op, in, gn, in.t)) {
            launchVectorRows(
                    g,
                    "nn_rmsnorm",
                    nv,
                    in,
                    g.ptr(in.t, op),
                    gn == null ? null : g.ptr(gn, op),
                    g.ptr(y, op),
                    g.ptr(rstd, op),
                    in.rows,
                    in.cols,
                    eps);
            in.free();
            if (gn != null) Gpu.freeTemp(gn, gain);
            return new Tensor[] {y, rstd};
        }
        g.launchRows(
                g.kernel(NN, "nn_rmsnorm"),
                in.rows,
                Gpu.rowThreads(in.cols),
                g.ptr(in.t, op),
                Gpu.code(x.dtype()),
                gn == null ? null : g.ptr(gn, op),
                gn == null ? 0 : Gpu.code(gn.dtype()),
                g.ptr(y, op),
                Gpu.code(y.dtype()),
                g.ptr(rstd, op),
                Gpu.code(in.mt),
                in.rows,
                in.cols,
                eps);
        in.free();
        if (gn != null) Gpu.freeTemp(gn, gain);
        return new Tensor[] {y, rstd};
    }

    /**
     * Sixteen-byte vectors per lane of {@link #addRmsNorm} for these operands (x and y of one shape), 0 when it does
     * not take them: f32 or bf16 rows of 512 to 4096 bytes in steps of 512, contiguous and 16-byte aligned, gain [cols]
     * of their dtype or null.
     */
    public static int addRmsNormVectors(Gpu g, Tensor x, Tensor y, Tensor gain) {
        String op = "addRmsNorm";
        if (x.ndim() == 0 || !x.sameShape(y) || x.dtype() != y.dtype()) return 0;
        int cols = x.size(-1);
        if (cols == 0 || (gain != null && (gain.ndim() != 1 || gain.size(0) != cols))) return 0;
        return warpRowVectors(g, op, x.dtype(), x.numel() / cols, cols, gain, x, y);
    }

    /**
     * {h = x + y, rmsNorm(h)·gain, rstd} in one pass (x read once and h never read back), h rounded to x's dtype before
     * the norm as the composed sum and norm round it; for operands {@link #addRmsNormVectors} takes.
     */
    public static Tensor[] addRmsNorm(Gpu g, Tensor x, Tensor y, Tensor gain, double eps) {
        String op = "addRmsNorm";
        g.check(op, x);
        g.check(op, y);
        if (gain != null) g.check(op, gain);
        int nv = addRmsNormVectors(g, x, y, gain);
        if (nv == 0) {
            throw new IllegalArgumentException(op + ": the one-pass kernel does not take " + x.describe() + " + "
                    + y.describe() + (gain == null ? "" : " with gain " + gain.describe()));
        }
        int cols = x.size(-1);
        long rows = x.numel() / cols;
        Tensor h = g.alloc(x.dtype(), x.shape());
        Tensor n = g.alloc(x.dtype(), x.shape());
        Tensor rstd = g.alloc(CudaElementwise.mathType(x.dtype()), statShape(x));
        launchWarpRows(
                g,
                "nn_add_rmsnorm_w_" + CudaElementwise.tn(x.dtype()) + "_" + nv,
                rows,
                g.ptr(x, op),
                gain == null ? null : g.ptr(gain, op),
                g.ptr(n, op),
                g.ptr(rstd, op),
                rows,
                cols,
                eps,
                g.ptr(y, op),
                g.ptr(h, op));
        return new Tensor[] {h, n, rstd};
    }

    /** Column sums over rows of dy·x̂ (and of dy when wantBias) into parameter-gradient tensors. */
    private static Tensor[] paramGrads(
            Gpu g,
            String op,
            Tensor x,
            Tensor mean,
            Tensor rstd,
            Tensor dy,
            long rows,
            int cols,
            DType wType,
            DType bType) {
        boolean wantBias = bType != null;
        int splits = (int) Math.max(
                1, Math.min(Math.min(1024, (rows + 63) / 64), (g.multiprocessors() * 2048L) / Math.max(1, cols) + 1));
        Tensor dw = wType == null ? null : g.alloc(wType, new int[] {cols});
        Tensor db = wantBias ? g.alloc(bType, new int[] {cols}) : null;
        if (cols == 0) return new Tensor[] {dw, db};
        try (DeviceBuffer part = g.ctx.allocate(8L * cols * splits * (wantBias ? 2 : 1), g.stream)) {
            int bx = (cols + Gpu.THREADS - 1) / Gpu.THREADS;
            g.kernel(NN, "nn_norm_param_partial")
                    .launch(
                            g.stream,
                            bx,
                            splits,
                            1,
                            Gpu.THREADS,
                            0,
                            g.ptr(x, op),
                            Gpu.code(x.dtype()),
                            mean == null ? null : g.ptr(mean, op),
                            g.ptr(rstd, op),
                            Gpu.code(rstd.dtype()),
                            g.ptr(dy, op),
                            Gpu.code(dy.dtype()),
                            rows,
                            cols,
                            splits,
                            wantBias ? 1 : 0,
                            part);
            if (dw != null) {
                g.launch(
                        g.kernel(NN, "nn_sum_splits"),
                        cols,
                        part,
                        splits,
                        0,
                        cols,
                        g.ptr(dw, op),
                        Gpu.code(dw.dtype()));
            }
            if (db != null) {
                g.launch(
                        g.kernel(NN, "nn_sum_splits"),
                        cols,
                        part,
                        splits,
                        splits,
                        cols,
                        g.ptr(db, op),
                        Gpu.code(db.dtype()));
            }
        }
        return new Tensor[] {dw, db};
    }

    /** {dx, dgain}; dx includes {@code addend} (x's shape and dtype) when it is not null. */
    public static Tensor[] rmsNormBackward(Gpu g, Tensor x, Tensor gain, Tensor rstd, Tensor dy, Tensor addend) {
        String op = "rmsNormBackward";
        Rows in = Rows.of(g, op, x);
        Rows gr = Rows.of(g, op, dy);
        Tensor ad = addend(g, op, x, addend);
        Tensor gn = param(g, op, gain, in.cols);
        g.check(op, rstd);
        if (rstd.numel() != in.rows)
            throw new IllegalArgumentException(op + ": rstd " + rstd.describe() + " does not match " + x.describe());
        Tensor rs = g.contiguous(op, rstd);
        Tensor dx = g.alloc(x.dtype(), x.shape());
        boolean typesFit = rs.dtype() == DType.F32 && gr.t.dtype() == x.dtype();
        int nv = typesFit ? warpRowVectors(g, op, in, gn, in.t, gr.t, dx, ad) : 0;
        if (nv > 0 || (typesFit && vectorRows(g, op, in, gn, in.t, gr.t, ad))) {
            launchVectorRows(
                    g,
                    "nn_rmsnorm_bwd",
                    nv,
                    in,
                    g.ptr(in.t, op),
                    gn == null ? null : g.ptr(gn, op),
                    g.ptr(rs, op),
                    g.ptr(gr.t, op),
                    ad == null ? null : g.ptr(ad, op),
                    g.ptr(dx, op),
                    in.rows,
                    in.cols);
        } else {
            g.launchRows(
                    g.kernel(NN, "nn_rmsnorm_bwd"),
                    in.rows,
                    Gpu.rowThreads(in.cols),
                    g.ptr(in.t, op),
                    Gpu.code(x.dtype()),
                    gn == null ? null : g.ptr(gn, op),
                    gn == null ? 0 : Gpu.code(gn.dtype()),
                    g.ptr(rs, op),
                    Gpu.code(rs.dtype()),
                    g.ptr(gr.t, op),
                    Gpu.code(dy.dtype()),
                    ad == null ? null : g.ptr(ad, op),
                    ad == null ? 0 : Gpu.code(ad.dtype()),
                    g.ptr(dx, op),
                    Gpu.code(dx.dtype()),
                    in.rows,
                    in.cols);
        }
        if (ad != null) Gpu.freeTemp(ad, addend);
        Tensor dgain = null;
        if (gain != null) {
            dgain = paramGrads(g, op, in.t, null, rs, gr.t, in.rows, in.cols, gain.dtype(), null)[0];
        }
        in.free();
        gr.free();
        Gpu.freeTemp(rs, rstd);
        if (gn != null) Gpu.freeTemp(gn, gain);
        return new Tensor[] {dx, dgain};
    }

    public static Tensor[] layerNorm(Gpu g, Tensor x, Tensor weight, Tensor bias, double eps) {
        String op = "layerNorm";
        Rows in = Rows.of(g, op, x);
        Tensor w = param(g, op, weight, in.cols);
        Tensor b = param(g, op, bias, in.cols);
        Tensor y = g.alloc(x.dtype(), x.shape());
        Tensor mean = g.alloc(in.mt, statShape(x));
        Tensor rstd = g.alloc(in.mt, statShape(x));
        g.launchRows(
                g.kernel(NN, "nn_layernorm"),
                in.rows,
                Gpu.rowThreads(in.cols),
                g.ptr(in.t, op),
                Gpu.code(x.dtype()),
                w == null ? null : g.ptr(w, op),
                w == null ? 0 : Gpu.code(w.dtype()),
                b == null ? null : g.ptr(b, op),
                b == null ? 0 : Gpu.code(b.dtype()),
                g.ptr(y, op),
                Gpu.code(y.dtype()),
                g.ptr(mean, op),
                g.ptr(rstd, op),
                Gpu.code(in.mt),
                in.rows,
                in.cols,
                eps);
        in.free();
        if (w != null) Gpu.freeTemp(w, weight);
        if (b != null) Gpu.freeTemp(b, bias);
        return new Tensor[] {y, mean, rstd};
    }

    /** {dx, dweight, dbias}; dx includes {@code addend} (x's shape and dtype) when it is not null. */
    public static Tensor[] layerNormBackward(
            Gpu g, Tensor x, Tensor weight, Tensor mean, Tensor rstd, Tensor dy, boolean hasBias, Tensor addend) {
        String op = "layerNormBackward";
        Rows in = Rows.of(g, op, x);
        Rows gr = Rows.of(g, op, dy);
        Tensor w = param(g, op, weight, in.cols);
        g.check(op, mean);
        g.check(op, rstd);
        if (mean.numel() != in.rows || rstd.numel() != in.rows) {
            throw new IllegalArgumentException(
                    op + ": statistics " + mean.describe() + ", " + rstd.describe() + " do not match " + x.describe());
        }
        DType st = CudaElementwise.promote(mean.dtype(), rstd.dtype());
        Tensor mu = g.contiguousAs(op, mean, st);
        Tensor rs = g.contiguousAs(op, rstd, st);
        Tensor dx = g.alloc(x.dtype(), x.shape());
        g.launchRows(
                g.kernel(NN, "nn_layernorm_bwd"),
                in.rows,
                Gpu.rowThreads(in.cols),
                g.ptr(in.t, op),
                Gpu.code(x.dtype()),
                w == null ? null : g.ptr(w, op),
                w == null ? 0 : Gpu.code(w.dtype()),
                g.ptr(mu, op),
                g.ptr(rs, op),
                Gpu.code(st),
                g.ptr(gr.t, op),
                Gpu.code(dy.dtype()),
                g.ptr(dx, op),
                Gpu.code(dx.dtype()),
                in.rows,
                in.cols);
        if (addend != null) {
            Tensor ad = addend(g, op, x, addend);
            fulgur.backend.Backends.of(dx).addInto(dx, ad);
            Gpu.freeTemp(ad, addend);
        }
        Tensor[] pg = (weight != null || hasBias)
                ? paramGrads(
                        g,
                        op,
                        in.t,
                        mu,
                        rs,
                        gr.t,
                        in.rows,
                        in.cols,
                        weight == null ? null : weight.dtype(),
                        hasBias ? in.mt : null)
                : new Tensor[2];
        in.free();
        gr.free();
        Gpu.freeTemp(mu, mean);
        Gpu.freeTemp(rs, rstd);
        if (w != null) Gpu.freeTemp(w, weight);
        return new Tensor[] {dx, pg[0], pg[1]};
    }
}
