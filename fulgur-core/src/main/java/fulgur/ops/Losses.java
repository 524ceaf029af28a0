package fulgur.ops;

import fulgur.autograd.Autograd;
import fulgur.autograd.GradMode;
import fulgur.backend.Backend;
import fulgur.backend.Backends;
import fulgur.backend.BinaryOp;
import fulgur.backend.Kernels;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;

/** Loss functions. */
public final class Losses {
    private Losses() {}

    public static final int IGNORE_INDEX = -100;

    /** Mean cross-entropy of logits [..., V] against integer targets [...], skipping {@link #IGNORE_INDEX}. */
    public static Tensor crossEntropy(Tensor logits, Tensor targets) {
        return crossEntropy(logits, targets, IGNORE_INDEX, 0);
    }

    public static Tensor crossEntropy(Tensor logits, Tensor targets, int ignoreIndex, double labelSmoothing) {
        logits.checkAlive("crossEntropy");
        targets.checkAlive("crossEntropy");
        if (labelSmoothing < 0 || labelSmoothing > 1) {
            throw new IllegalArgumentException(
                    "crossEntropy: label smoothing must be in [0, 1], got " + labelSmoothing);
        }
        if (logits.ndim() < 1 || targets.numel() * logits.size(-1) != logits.numel()) {
            throw new IllegalArgumentException("crossEntropy: logits " + logits.describe() + " do not match targets "
                    + targets.describe() + " (expected logits [..., V] with the targets' leading shape)");
        }
        Tensor flat = Views.reshape(logits, -1, logits.size(-1));
        Tensor out = Backends.of(logits).crossEntropy(flat, targets, ignoreIndex, labelSmoothing);
        return Autograd.record("crossEntropy", out, new Tensor[] {flat}, g ->
                new Tensor[] {Backends.of(logits).crossEntropyBackward(flat, targets, ignoreIndex, labelSmoothing, g)});
    }

    /** Bytes the logits of one chunk of {@link #linearCrossEntropy} may take (256 MB). */
    public static final long LINEAR_CE_CHUNK_BYTES = 1L << 28;

    /**
     * {@code crossEntropy(linear(hidden, weight), targets)} without the [N, V] logits: rows of {@code hidden} [..., D]
     * go through the output projection {@code weight} [V, D] a chunk at a time ({@code chunkRows} rows, so at most
     * chunkRows × V logits live at once), and each chunk's gradients for {@code hidden} and {@code weight} are formed
     * while its logits exist; the backward only scales them by the upstream gradient. Same value and gradients as
     * the unfused pair; the weight gradient accumulates in f32.
     */
    public static Tensor linearCrossEntropy(
            Tensor hidden, Tensor weight, Tensor targets, int ignoreIndex, double labelSmoothing, int chunkRows) {
        String op = "linearCrossEntropy";
        hidden.checkAlive(op);
        weight.checkAlive(op);
        targets.checkAlive(op);
        Elementwise.checkSameDevice(op, hidden, weight);
        if (weight.ndim() != 2 || hidden.ndim() < 1 || hidden.size(-1) != weight.size(1)) {
            throw new IllegalArgumentException(op + ": hidden " + hidden.describe() + " does not match weight "
                    + weight.describe() + " (expected [..., D] and [V, D])");
        }
        int d = weight.size(1);
        int n = (int) (hidden.numel() / d);
        if (targets.numel() != n) {
            throw new IllegalArgumentException(
                    op + ": " + targets.describe() + " targets for " + n + " rows of hidden " + hidden.describe());
        }
        if (chunkRows <= 0) {
            throw new IllegalArgumentException(op + ": chunkRows must be positive, got " + chunkRows);
        }
        if (labelSmoothing < 0 || labelSmoothing > 1) {
            throw new IllegalArgumentException(op + ": label smoothing must be in [0, 1], got " + labelSmoothing);
        }
        Backend be = Backends.of(hidden);
        Tensor h = Views.reshape(hidden, n, d);
        Tensor t = Views.reshape(targets, n);
        boolean grads = GradMode.isEnabled() && (hidden.requiresGrad() || weight.requiresGrad());
        DType acc = weight.dtype() == DType.F64 ? DType.F64 : DType.F32;
        DType lossType = hidden.dtype() == DType.F64 ? DType.F64 : DType.F32;
        // Counts and shares stay on the device (no host sync, so a training step with this loss can be captured):
        // chunk c's mean loss is weighted by its share validHere_c / valid of the non-ignored rows.
        Tensor isValid = be.binary(BinaryOp.NE, t, Tensor.full(t.dtype(), t.device(), ignoreIndex))
                .to(DType.F64);
        Tensor valid = be.binary(
                BinaryOp.MAXIMUM, Reductions.sum(isValid), Tensor.full(DType.F64, t.device(), 1)); // 0 valid: shares 0
        Tensor total = Tensor.zeros(lossType, hidden.device());
        Tensor dh = grads ? Tensor.empty(hidden.dtype(), hidden.device(), n, d) : null;
        Tensor dw = grads ? Tensor.zeros(acc, weight.device(), weight.shape()) : null;
        CrossEntropyKernels fused = grads ? Kernels.find(CrossEntropyKernels.class, hidden.device()) : null;
        MatmulIntoKernels into = grads ? Kernels.find(MatmulIntoKernels.class, hidden.device()) : null;
        try (var off = GradMode.noGrad()) {
            Tensor w = weight.detach();
            for (int r0 = 0; r0 < n; r0 += chunkRows) {
                int rows = Math.min(chunkRows, n - r0);
                // one chunk's logits and gradients live only in this scope: the peak is one chunk, not all of them
                try (Scope chunk = Scope.open("linearCrossEntropy chunk")) {
                    Tensor hc = Views.narrow(h, 0, r0, rows).detach();
                    Tensor tc = Views.narrow(t, 0, r0, rows);
                    Tensor share = be.binary(BinaryOp.DIV, Reductions.sum(Views.narrow(isValid, 0, r0, rows)), valid);
                    Tensor logits = be.matmul(hc, w, false, true, null);
                    Tensor part, dl = null;
                    if (fused != null && fused.supports(logits)) { // loss and gradient in one pass over the logits
                        Tensor[] r = fused.lossAndGradient(logits, tc, ignoreIndex, labelSmoothing, share);
                        part = r[0];
                        dl = r[1];
                    } else {
                        part = be.crossEntropy(logits, tc, ignoreIndex, labelSmoothing);
                    }
                    Tensor weighted = be.binary(BinaryOp.MUL, part.to(DType.F64), share);
                    be.copy(be.binary(BinaryOp.ADD, total, weighted.to(lossType)), total);
                    if (grads) {
                        if (dl == null) dl = be.crossEntropyBackward(logits, tc, ignoreIndex, labelSmoothing, share);
                        logits.close();
                        Tensor dhRows = Views.narrow(dh, 0, r0, rows);
                        if (into != null && into.supports(dl, w, dhRows)) {
                            into.matmulInto(dl, w, false, false, dhRows, 0);
                        } else {
                            be.copy(be.matmul(dl, w, false, false, null), dhRows);
                        }
                        // in place: dw is the size of the weight, added to once per chunk (by the product itself
                        // where the device writes products into a tensor)
                        if (into != null && into.supports(dl, hc, dw)) {
                            into.matmulInto(dl, hc, true, false, dw, r0 == 0 ? 0 : 1);
                        } else {
                            be.addInto(dw, be.matmul(dl, hc, true, false, acc));
                        }
                    }
                }
            }
        }
        if (!grads) {
            return total;
        }
        // the upstream gradient g is a device scalar: scale in f32 (or f64) and round once to the input's dtype
        return Autograd.record(op, total, new Tensor[] {hidden, weight}, g -> new Tensor[] {
            Views.reshape(scaled(be, dh, g, hidden.dtype()), hidden.shape()), scaled(be, dw, g, weight.dtype())
        });
    }

    /** x · g (g a one-element tensor) computed in at least f32, in dtype {@code out}. */
    private static Tensor scaled(Backend be, Tensor x, Tensor g, DType out) {
        DType math = x.dtype() == DType.F64 || g.dtype() == DType.F64 ? DType.F64 : DType.F32;
        Tensor p = be.binary(BinaryOp.MUL, x.dtype() == math ? x : x.to(math), g.dtype() == math ? g : g.to(math));
        return p.dtype() == out ? p : p.to(out);
    }

    /**
     * Rows per chunk of {@link #linearCrossEntropy} for a vocabulary of {@code vocab} and logits of dtype
     * {@code logits}: {@link #LINEAR_CE_CHUNK_BYTES} of logits. Fewer, larger chunks pass over the weight-sized
     * gradient fewer times (once per chunk); bf16 logits get twice the rows of f32 ones for the same bytes.
     *
     * @param vocab the vocabulary (the logits' width)
     * @param logits the dtype of the logits (the hidden states' and the weight's)
     * @return rows per chunk, at least 1
     */
    public static int linearCrossEntropyChunk(int vocab, DType logits) {
        long perRow = (long) Math.max(1, vocab) * logits.byteSize();
        return (int) Math.max(1, Math.min(Integer.MAX_VALUE, LINEAR_CE_CHUNK_BYTES / perRow));
    }
}
