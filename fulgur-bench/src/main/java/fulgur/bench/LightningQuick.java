package fulgur.bench;

import fulgur.ops.Elementwise;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Reductions;
import fulgur.ops.lightning.Lightning;
import fulgur.ops.lightning.LightningDecay;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The {@code lightning} quick benchmark: lightning attention forward+backward, chunked (Lightning-2, block 64)
 * against the naive quadratic form ((QKᵀ ⊙ D) V with f32 GEMMs and autograd), at B=1, H=4, d=e=64 and
 * T = 512, 2048, 8192, in milliseconds (median) in the same run.
 */
final class LightningQuick {
    private static final int B = 1;
    private static final int H = 4;
    private static final int D = 64;

    private LightningQuick() {}

    static List<BenchResult> run() {
        List<BenchResult> out = new ArrayList<>();
        double[] slopes = LightningDecay.tnlSlopes(H, 0, 2);
        for (int t : new int[] {512, 2048, 8192}) {
            double chunked;
            double naive;
            try (Scope s = Scope.open("bench")) {
                Rng rng = new Rng(t);
                Tensor q = rng.normal(0, 0.3, B, t, H, D).requiresGrad(true);
                Tensor k = rng.normal(0, 0.3, B, t, H, D).requiresGrad(true);
                Tensor v = rng.normal(0, 1, B, t, H, D).requiresGrad(true);
                Tensor w = rng.normal(0, 1, B, t, H, D);
                Tensor mask = decayMask(slopes, t);
                chunked = Timing.medianSeconds(
                        () -> step(() -> Lightning.attention(q, k, v, slopes), w, q, k, v), 2.0, 3.0, 5);
                naive = Timing.medianSeconds(
                        () -> step(() -> naive(q, k, v, mask), w, q, k, v),
                        t >= 8192 ? 0 : 2.0,
                        3.0,
                        t >= 8192 ? 1 : 3);
            }
            Map<String, Object> extra = new LinkedHashMap<>();
            extra.put("B", B);
            extra.put("H", H);
            extra.put("d", D);
            extra.put("T", t);
            extra.put("naive_ms_same_run", naive * 1e3);
            extra.put("speedup_vs_naive", naive / chunked);
            out.add(new BenchResult(
                    "lightning", "chunked_fwd_bwd_T" + t, chunked * 1e3, "ms", Machine.describe(extra)));
        }
        return out;
    }

    private static void step(java.util.function.Supplier<Tensor> forward, Tensor w, Tensor... leaves) {
        try (Scope s = Scope.open("step")) {
            for (Tensor l : leaves) {
                l.zeroGrad();
            }
            Tensor o = forward.get();
            Reductions.sum(Elementwise.mul(o, w)).backward();
        }
    }

    /** D[h, i, j] = λ_h^{i−j} for j ≤ i, 0 above the diagonal. */
    static Tensor decayMask(double[] slopes, int t) {
        float[] m = new float[slopes.length * t * t];
        for (int h = 0; h < slopes.length; h++) {
            for (int i = 0; i < t; i++) {
                for (int j = 0; j <= i; j++) {
                    m[(h * t + i) * t + j] = (float) Math.exp(-slopes[h] * (i - j));
                }
            }
        }
        return Tensor.of(m, slopes.length, t, t);
    }

    /** The quadratic form with tensor ops (the oracle's formula, f32 GEMMs). */
    static Tensor naive(Tensor q, Tensor k, Tensor v, Tensor mask) {
        Tensor qh = q.permute(0, 2, 1, 3);
        Tensor kh = k.permute(0, 2, 1, 3);
        Tensor vh = v.permute(0, 2, 1, 3);
        Tensor scores = Elementwise.mul(LinearAlgebra.matmul(qh, kh, false, true), mask);
        return LinearAlgebra.matmul(scores, vh).permute(0, 2, 1, 3);
    }
}
