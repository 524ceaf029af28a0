package fulgur.ops.gla;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

class GlaTest {
    // Awkward sizes: T not a multiple of the chunk, dk ≠ dv, more than one batch and head.
    static final int B = 2, T = 13, H = 2, DK = 3, DV = 5;

    /** q, k, v, g (log-decay in [−6, 0), some channels nearly 0) and an initial state, as f64 leaves. */
    static Tensor[] inputs(long seed, int t, DType dt) {
        Rng r = new Rng(seed);
        Tensor q = r.normal(dt, 0, 1, B, t, H, DK);
        Tensor k = r.normal(dt, 0, 1, B, t, H, DK);
        Tensor v = r.normal(dt, 0, 1, B, t, H, DV);
        double[] g = new double[B * t * H * DK];
        for (int i = 0; i < g.length; i++) {
            g[i] = -Math.log1p(Math.exp(-3 * (r.nextDouble() * 2 - 0.5))); // log σ(x), x ∈ [−1.5, 4.5]
        }
        Tensor s0 = r.normal(dt, 0, 1, B, H, DK, DV);
        return new Tensor[] {q, k, v, Tensor.of(dt, g, B, t, H, DK), s0};
    }

    static double[] d(Tensor t) {
        return t.toDoubleArray();
    }

    static GlaNaive.Result naive(Tensor[] in, int t, double scale) {
        return GlaNaive.forward(d(in[0]), d(in[1]), d(in[2]), d(in[3]), d(in[4]), B, t, H, DK, DV, scale);
    }

    @Test
    void chunkedAndRecurrentMatchTheNaiveOracleInF64AndF32() {
        try (Scope s = Scope.open()) {
            for (DType dt : new DType[] {DType.F64, DType.F32}) {
                double tol = dt == DType.F64 ? 1e-12 : 2e-6;
                Tensor[] in = inputs(1, T, dt);
                GlaNaive.Result ref = naive(in, T, 0.7);
                for (int chunk : new int[] {1, 4, 5, 13, 64}) {
                    Gla.Result c = Gla.chunked(in[0], in[1], in[2], in[3], 0.7, in[4], true, chunk);
                    assertThat(c.output().shape()).containsExactly(B, T, H, DV);
                    assertThat(GradCheck.relErr(d(c.output()), ref.output()))
                            .as("%s chunk %d output", dt, chunk)
                            .isLessThan(tol);
                    assertThat(GradCheck.relErr(d(c.finalState()), ref.finalState()))
                            .as("%s chunk %d state", dt, chunk)
                            .isLessThan(tol);
                }
                Gla.Result r = Gla.recurrent(in[0], in[1], in[2], in[3], 0.7, in[4]);
                assertThat(GradCheck.relErr(d(r.output()), ref.output())).isLessThan(tol);
                assertThat(GradCheck.relErr(d(r.finalState()), ref.finalState()))
                        .isLessThan(tol);
                // Without an initial state too.
                GlaNaive.Result ref0 =
                        GlaNaive.forward(d(in[0]), d(in[1]), d(in[2]), d(in[3]), null, B, T, H, DK, DV, 1.0);
                Gla.Result c0 = Gla.chunked(in[0], in[1], in[2], in[3], 1.0, null, true, 4);
                assertThat(GradCheck.relErr(d(c0.output()), ref0.output())).isLessThan(tol);
                assertThat(GradCheck.relErr(d(c0.finalState()), ref0.finalState()))
                        .isLessThan(tol);
            }
        }
    }

    @Test
    void strongDecayStaysFiniteInF32() {
        // Σ g over a chunk of 16 reaches −800: exp(+cumsum) would overflow f32 (and f64 at −710).
        try (Scope s = Scope.open()) {
            Tensor[] in = inputs(2, 40, DType.F32);
            double[] g = d(in[3]);
            for (int i = 0; i < g.length; i += 2) {
                g[i] = -50;
            }
            Tensor gt = Tensor.of(DType.F32, g, B, 40, H, DK);
            GlaNaive.Result ref = GlaNaive.forward(d(in[0]), d(in[1]), d(in[2]), g, d(in[4]), B, 40, H, DK, DV, 1.0);
            Gla.Result c = Gla.chunked(in[0], in[1], in[2], gt, 1.0, in[4], true, 16);
            for (double x : d(c.output())) {
                assertThat(Double.isFinite(x)).isTrue();
            }
            assertThat(GradCheck.relErr(d(c.output()), ref.output())).isLessThan(2e-6);
            assertThat(GradCheck.relErr(d(c.finalState()), ref.finalState())).isLessThan(2e-6);
        }
    }

    /** Σ o ⊙ W1 + Σ S_T ⊙ W2 through one form; returns the gradients of q, k, v, g, s0. */
    static double[][] grads(Tensor[] in, boolean chunked) {
        for (Tensor t : in) {
            t.requiresGrad(true);
            t.zeroGrad();
        }
        Gla.Result r = chunked
                ? Gla.chunked(in[0], in[1], in[2], in[3], 0.5, in[4], true, 4)
                : Gla.recurrent(in[0], in[1], in[2], in[3], 0.5, in[4]);
        Rng w = new Rng(77);
        Tensor loss = r.output()
                .mul(w.normal(DType.F64, 0, 1, r.output().shape()))
                .sum()
                .add(r.finalState()
                        .mul(w.normal(DType.F64, 0, 1, r.finalState().shape()))
                        .sum());
        loss.backward();
        double[][] out = new double[in.length][];
        for (int i = 0; i < in.length; i++) {
            assertThat(in[i].grad()).as("gradient of input %d", i).isNotNull();
            out[i] = d(in[i].grad());
        }
        return out;
    }

    @Test
    void chunkedAndRecurrentGradientsAgreeIncludingDecayAndStates() {
        try (Scope s = Scope.open()) {
            Tensor[] in = inputs(3, T, DType.F64);
            double[][] c = grads(in, true);
            double[][] r = grads(in, false);
            String[] names = {"q", "k", "v", "g", "initial state"};
            for (int i = 0; i < names.length; i++) {
                assertThat(GradCheck.relErr(c[i], r[i])).as("d%s", names[i]).isLessThan(1e-12);
            }
        }
    }

    @Test
    void chunkedGradientsMatchFiniteDifferences() {
        try (Scope s = Scope.open()) {
            Tensor[] in = inputs(4, 7, DType.F64);
            GradCheck.check(
                    x -> {
                        Gla.Result r = Gla.chunked(x[0], x[1], x[2], x[3], 0.8, x[4], true, 3);
                        return Views.concat(0, Views.reshape(r.output(), -1), Views.reshape(r.finalState(), -1));
                    },
                    1e-6,
                    1e-6,
                    in);
        }
    }

    @Test
    void badArgumentsNameTheArgument() {
        try (Scope s = Scope.open()) {
            Tensor[] in = inputs(5, 6, DType.F32);
            Tensor q = in[0], k = in[1], v = in[2], g = in[3];
            assertThatThrownBy(() -> Gla.chunked(q, k, v, Views.narrow(g, 3, 0, 2), 1, null, false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("g [");
            assertThatThrownBy(() -> Gla.chunked(q, Views.narrow(k, 1, 0, 5), v, g, 1, null, false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("k [");
            assertThatThrownBy(() -> Gla.recurrent(q, k, Views.narrow(v, 2, 0, 1), g, 1, null))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("v [");
            assertThatThrownBy(() -> Gla.chunked(q, k, v, g, 1, Tensor.zeros(B, H, DV, DK), false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("initial state");
            assertThatThrownBy(() -> Gla.chunked(Views.reshape(q, -1), k, v, g, 1, null, false, 4))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("q must be [B, T, H, D]");
            assertThatThrownBy(() -> Gla.chunked(q, k, v, g, 1, null, false, 0))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("chunkSize");
        }
    }

    @Test
    void intraChunkKernelMatchesItsComposedDefault() {
        // The CPU backend fuses the intra-chunk scores; other backends inherit the composed default.
        try (Scope s = Scope.open()) {
            for (DType dt : new DType[] {DType.F64, DType.F32}) {
                double tol = dt == DType.F64 ? 1e-12 : 1e-5;
                Rng r = new Rng(6);
                Tensor q = r.normal(dt, 0, 1, 2, 3, 5, 4);
                Tensor k = r.normal(dt, 0, 1, 2, 3, 5, 4);
                Tensor b = fulgur.ops.Indexing.cumsum(r.uniform(dt, -3, 0, 2, 3, 5, 4), 2);
                Tensor dA = r.normal(dt, 0, 1, 2, 3, 5, 5);
                assertThat(GradCheck.relErr(d(GlaIntra.cpuScores(q, k, b)), d(GlaIntra.composed(q, k, b))))
                        .isLessThan(tol);
                Tensor[] fused = GlaIntra.cpuScoresBackward(q, k, b, dA);
                Tensor[] comp = GlaIntra.composedBackward(q, k, b, dA);
                for (int i = 0; i < 3; i++) {
                    assertThat(GradCheck.relErr(d(fused[i]), d(comp[i])))
                            .as("gradient %d in %s", i, dt)
                            .isLessThan(tol);
                }
            }
        }
    }

    @Test
    void bf16InputsComputeInF32AndReturnBf16() {
        try (Scope s = Scope.open()) {
            Tensor[] in = inputs(7, T, DType.F32);
            Tensor[] lo = new Tensor[in.length];
            for (int i = 0; i < in.length; i++) {
                lo[i] = in[i].to(DType.BF16);
            }
            Gla.Result r = Gla.chunked(lo[0], lo[1], lo[2], lo[3], 1.0, lo[4], true, 4);
            assertThat(r.output().dtype()).isEqualTo(DType.BF16);
            assertThat(r.finalState().dtype()).isEqualTo(DType.F32);
            double[][] w = new double[5][];
            for (int i = 0; i < 5; i++) {
                w[i] = d(lo[i]);
            }
            GlaNaive.Result ref = GlaNaive.forward(w[0], w[1], w[2], w[3], w[4], B, T, H, DK, DV, 1.0);
            assertThat(GradCheck.relErr(d(r.output()), ref.output())).isLessThan(1e-2);
            assertThat(GradCheck.relErr(d(r.finalState()), ref.finalState())).isLessThan(1e-5);
        }
    }
}
