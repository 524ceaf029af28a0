package fulgur.ops;

import fulgur.tensor.Tensor;

/**
 * Matrix products written into a tensor that exists, c ← op(a)·op(b) + beta·c, or summed with one: a chunked loss's
 * weight gradient summed by the product itself (no pass over a weight-sized buffer per chunk), its input gradient
 * written straight into its rows, and a linear layer's input gradient with the gradient summed so far folded in. Registered per device in {@link fulgur.backend.Kernels}; without one, callers form the product and add or
 * copy it.
 */
public interface MatmulIntoKernels {

    /**
     * Whether {@link #matmulInto} takes these operands: 2-D a and b of one floating dtype, c 2-D with contiguous rows
     * (a row slice of a wider tensor is fine) of the product's shape, in a dtype the device can write the product in.
     */
    boolean supports(Tensor a, Tensor b, Tensor c);

    /** c ← op(a)·op(b) + beta·c, op transposing when the flag is set; beta 0 ignores c's contents. */
    void matmulInto(Tensor a, Tensor b, boolean transA, boolean transB, Tensor c, double beta);

    /**
     * A new tensor op(a)·op(b) + addend in one product (the addend, never written, contiguous, of the product's shape
     * and in the dtype of the result): a linear layer's input gradient with the gradient summed so far for that input
     * folded in. Null when the kernel does not take these operands.
     */
    Tensor matmulPlus(Tensor a, Tensor b, boolean transA, boolean transB, Tensor addend);
}
