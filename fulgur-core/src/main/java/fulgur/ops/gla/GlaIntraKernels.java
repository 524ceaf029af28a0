package fulgur.ops.gla;

import fulgur.tensor.Tensor;

/**
 * The intra-chunk scores of GLA's composed chunked form (what a device fuses when it has no whole-op
 * {@link GlaKernels}): q, k and the within-chunk cumulative log-decay b, all {@code [..., C, dk]} (same shape, same
 * floating dtype, on the kernel's device) → A {@code [..., C, C]} with A[i,j] = Σ_c q[i,c] k[j,c] exp(b[i,c] − b[j,c])
 * for j ≤ i and 0 above the diagonal, in f32 (f64 for f64). Without a registered kernel {@link GlaIntra#composed} runs.
 */
public interface GlaIntraKernels {

    Tensor scores(Tensor q, Tensor k, Tensor b);

    /** Gradients {dq, dk, db} of {@link #scores} from dA {@code [..., C, C]}. */
    Tensor[] scoresBackward(Tensor q, Tensor k, Tensor b, Tensor dA);
}
