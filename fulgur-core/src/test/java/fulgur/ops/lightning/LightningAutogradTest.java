package fulgur.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.Elementwise;
import fulgur.ops.LinearAlgebra;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/** The autograd op on tensors: gradients through output and final state, initial state, dtypes, errors. */
class LightningAutogradTest {

    /** The quadratic form with tensor ops and an explicit decay mask (and the initial state's contribution). */
    static Tensor reference(Tensor q, Tensor k, Tensor v, double[] slopes, Tensor s0) {
        int t = q.size(1);
        int h = q.size(2);
        double[] m = new double[h * t * t];
        double[] first = new double[h * t];
        for (int a = 0; a < h; a++) {
            for (int i = 0; i < t; i++) {
                first[a * t + i] = Math.exp(-slopes[a] * (i + 1));
                for (int j = 0; j <= i; j++) {
                    m[(a * t + i) * t + j] = Math.exp(-slopes[a] * (i - j));
                }
            }
        }
        Tensor mask = Tensor.of(q.dtype(), m, h, t, t);
        Tensor qh = q.permute(0, 2, 1, 3);
        Tensor o = LinearAlgebra.matmul(
                Elementwise.mul(LinearAlgebra.matmul(qh, k.permute(0, 2, 1, 3), false, true), mask),
                v.permute(0, 2, 1, 3));
        if (s0 != null) {
            Tensor decay = Tensor.of(q.dtype(), first, 1, h, t, 1);
            o = o.add(LinearAlgebra.matmul(qh, s0).mul(decay));
        }
        return o.permute(0, 2, 1, 3);
    }

    @Test
    void gradientsThroughOutputFinalAndInitialStateMatchFiniteDifferences() {
        Rng rng = new Rng(4);
        double[] slopes = {0.3, 0.05, 1.2};
        Tensor q = rng.normal(DType.F64, 0, 0.5, 2, 9, 3, 4);
        Tensor k = rng.normal(DType.F64, 0, 0.5, 2, 9, 3, 4);
        Tensor v = rng.normal(DType.F64, 0, 1, 2, 9, 3, 5);
        Tensor s0 = rng.normal(DType.F64, 0, 1, 2, 3, 4, 5);
        GradCheck.check(
                x -> {
                    Lightning.Result r = Lightning.chunked(x[0], x[1], x[2], slopes, 1.0, x[3], true, 4, null);
                    return Elementwise.add(
                            Reductions.sum(r.output().reshape(2, -1), new int[] {1}, false),
                            Reductions.sum(r.finalState().reshape(2, -1), new int[] {1}, false));
                },
                q,
                k,
                v,
                s0);
    }

    @Test
    void f32ChunkedMatchesTheReferenceFormInValueAndGradient() {
        Rng rng = new Rng(5);
        double[] slopes = LightningDecay.tnlSlopes(3, 0, 4);
        try (Scope s = Scope.open()) {
            Tensor q = rng.normal(0, 0.5, 2, 70, 3, 8).requiresGrad(true);
            Tensor k = rng.normal(0, 0.5, 2, 70, 3, 8).requiresGrad(true);
            Tensor v = rng.normal(0, 1, 2, 70, 3, 6).requiresGrad(true);
            Tensor s0 = rng.normal(0, 1, 2, 3, 8, 6).requiresGrad(true);
            Tensor w = rng.normal(0, 1, 2, 70, 3, 6);
            Tensor o =
                    Lightning.chunked(q, k, v, slopes, 1.0, s0, false, 64, null).output();
            o.mul(w).sum().backward();
            double[][] got = {
                o.toDoubleArray(),
                q.grad().toDoubleArray(),
                k.grad().toDoubleArray(),
                v.grad().toDoubleArray(),
                s0.grad().toDoubleArray()
            };
            Tensor[] leaves = {q, k, v, s0};
            Tensor[] l64 = new Tensor[4];
            for (int i = 0; i < 4; i++) {
                l64[i] = leaves[i].detach().to(DType.F64).requiresGrad(true);
            }
            Tensor ref = reference(l64[0], l64[1], l64[2], slopes, l64[3]);
            ref.mul(w.to(DType.F64)).sum().backward();
            assertThat(GradCheck.relErr(got[0], ref.toDoubleArray())).isLessThan(1e-5);
            for (int i = 0; i < 4; i++) {
                assertThat(GradCheck.relErr(got[i + 1], l64[i].grad().toDoubleArray()))
                        .as("gradient %d", i)
                        .isLessThan(1e-5);
            }
        }
    }

    @Test
    void bf16InputsComputeInF32AndReturnBf16() {
        Rng rng = new Rng(6);
        double[] slopes = {0.1, 0.2};
        try (Scope s = Scope.open()) {
            Tensor q = rng.normal(0, 0.5, 1, 20, 2, 8);
            Tensor k = rng.normal(0, 0.5, 1, 20, 2, 8);
            Tensor v = rng.normal(0, 1, 1, 20, 2, 8);
            Tensor o16 = Lightning.attention(q.to(DType.BF16), k.to(DType.BF16), v.to(DType.BF16), slopes);
            assertThat(o16.dtype()).isEqualTo(DType.BF16);
            Tensor o32 = Lightning.attention(
                    q.to(DType.BF16).to(DType.F32),
                    k.to(DType.BF16).to(DType.F32),
                    v.to(DType.BF16).to(DType.F32),
                    slopes);
            assertThat(GradCheck.relErr(o16.toDoubleArray(), o32.toDoubleArray()))
                    .isLessThan(1e-2);
        }
    }

    @Test
    void mismatchedShapesAndStatesAreRejected() {
        Tensor q = Tensor.zeros(1, 4, 2, 8);
        Tensor v = Tensor.zeros(1, 4, 2, 6);
        assertThatThrownBy(() -> Lightning.attention(q, Tensor.zeros(1, 5, 2, 8), v, new double[] {0.1, 0.1}))
                .hasMessageContaining("lightning.chunked")
                .hasMessageContaining("do not agree");
        assertThatThrownBy(() -> Lightning.chunked(
                        q, q, v, new double[] {0.1, 0.1}, 1, Tensor.zeros(1, 2, 8, 5), false, 64, null))
                .hasMessageContaining("initial state");
        assertThatThrownBy(() -> Lightning.attention(Tensor.zeros(4, 2, 8), q, v, new double[] {0.1, 0.1}))
                .hasMessageContaining("[B, T, H, D]");
        assertThatThrownBy(() -> Lightning.recurrent(q, q, v, new double[] {0.1, 0.1}, 1, Tensor.zeros(1, 2, 8, 5)))
                .hasMessageContaining("state");
    }
}
