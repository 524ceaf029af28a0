package fulgur.ops.moe;

import fulgur.tensor.Tensor;

/**
 * The kernels of sparse mixture-of-experts dispatch on one device: grouping the routed (token, slot) pairs by expert,
 * and the grouped expert GEMM that runs every expert on exactly its rows in one launch. {@link Moe} keeps the autograd
 * logic and validates the arguments. Registered per device kind in {@link fulgur.backend.Kernels}; without one,
 * {@link Moe} composes a counting sort on the host and one matrix product per expert.
 */
public interface MoeKernels {

    /**
     * Groups the N·k (token, slot) pairs of {@code topk} ([N, k] expert ids, integer, on the kernel's device) by expert,
     * stably in token order. Returns a {@link Moe.Dispatch}: for each grouped row its token (0..N−1) and its pair
     * (token·k + slot), as i64 [N·k] device tensors, and the per-expert row counts on the host (what sizes each
     * expert's slice).
     */
    Moe.Dispatch dispatch(Tensor topk, int experts);

    /**
     * The grouped linear map: {@code rows} [M, K] hold the experts' rows one group after another ({@code counts[e]} rows
     * for expert e, Σ counts = M); group e is multiplied by {@code weights[e]}ᵀ ({@code [Nout, K]}, the layout of a
     * Linear weight): → [M, Nout] in the rows' dtype (f32 accumulation).
     */
    Tensor groupedLinear(Tensor rows, int[] counts, Tensor[] weights);

    /**
     * Gradients {d rows, d weights[0], …, d weights[E−1]} of {@link #groupedLinear} for the gradient {@code dOut}
     * [M, Nout] of its output (a zero gradient for an expert with no rows).
     */
    Tensor[] groupedLinearBackward(Tensor rows, int[] counts, Tensor[] weights, Tensor dOut);
}
