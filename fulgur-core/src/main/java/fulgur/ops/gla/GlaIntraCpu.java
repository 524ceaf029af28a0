package fulgur.ops.gla;

import fulgur.tensor.Tensor;

/** The CPU's {@link GlaIntraKernels}: {@link GlaIntra}'s fused loops (one pass per chunk, f64 accumulation). */
public final class GlaIntraCpu implements GlaIntraKernels {
    public static final GlaIntraCpu INSTANCE = new GlaIntraCpu();

    private GlaIntraCpu() {}

    @Override
    public Tensor scores(Tensor q, Tensor k, Tensor b) {
        return GlaIntra.cpuScores(q, k, b);
    }

    @Override
    public Tensor[] scoresBackward(Tensor q, Tensor k, Tensor b, Tensor dA) {
        return GlaIntra.cpuScoresBackward(q, k, b, dA);
    }
}
