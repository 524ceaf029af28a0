package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Kernels of a residual sum followed by RMSNorm ({@link Norms#addRmsNorm}: a pre-norm block's h = x + y, then the next
 * norm of h) in one pass: x and y read once, h and norm(h) written, where the composed form writes h and reads it back.
 * Only the forward: the backward is that of the sum and the norm (the norm's backward already writes the residual
 * stream's gradient summed). Registered per device in {@link fulgur.backend.Kernels}; without one the op composes
 * {@link Elementwise#add} and {@link Norms#rmsNorm}. Arguments (validated by the op): x and y of one shape [..., D],
 * dtype and device, gain [D] or null.
 */
public interface ResidualNormKernels {

    /** Whether this device's kernels take these arguments; the op composes the sum and the norm otherwise. */
    boolean supports(Tensor x, Tensor y, Tensor gain);

    /**
     * {h = x + y in x's dtype (rounded as {@link Elementwise#add} rounds it), norm(h)·gain computed from that rounded
     * h, rstd as {@link fulgur.backend.Backend#norm} returns it for h}.
     */
    Tensor[] forward(Tensor x, Tensor y, Tensor gain, double eps);
}
