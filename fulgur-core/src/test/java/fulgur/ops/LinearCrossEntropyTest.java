package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/** The chunked projection + cross-entropy equals the unfused pair in value and in both gradients. */
class LinearCrossEntropyTest {

    static final int N = 13;
    static final int D = 7;
    static final int V = 11;

    static Tensor targets() {
        long[] t = new long[N];
        Rng r = new Rng(3);
        for (int i = 0; i < N; i++) {
            t[i] = r.nextInt(V);
        }
        t[2] = Losses.IGNORE_INDEX;
        t[7] = Losses.IGNORE_INDEX;
        t[8] = Losses.IGNORE_INDEX; // rows 7-8 form a whole ignored chunk at chunkRows 2 offset... and 3
        return Tensor.ofLongs(t, N);
    }

    @Test
    void matchesTheUnfusedPairForEveryChunkSize() {
        for (DType dt : new DType[] {DType.F64, DType.F32}) {
            double tol = dt == DType.F64 ? 1e-12 : 1e-5;
            for (double smoothing : new double[] {0, 0.1}) {
                try (Scope s = Scope.open()) {
                    Rng rng = new Rng(9);
                    Tensor h0 = rng.normal(0, 1, 1, N, D).to(dt);
                    Tensor w0 = rng.normal(0, 0.5, V, D).to(dt);
                    Tensor h = h0.detach().requiresGrad(true);
                    Tensor w = w0.detach().requiresGrad(true);
                    Tensor ref = Losses.crossEntropy(
                            LinearAlgebra.linear(h, w, null), targets(), Losses.IGNORE_INDEX, smoothing);
                    ref.mul(1.7).backward();
                    for (int chunk : new int[] {1, 2, 3, 5, N, 100}) {
                        Tensor hc = h0.detach().requiresGrad(true);
                        Tensor wc = w0.detach().requiresGrad(true);
                        Tensor got =
                                Losses.linearCrossEntropy(hc, wc, targets(), Losses.IGNORE_INDEX, smoothing, chunk);
                        assertThat(got.ndim()).isZero();
                        assertThat(got.item())
                                .as(dt + " chunk " + chunk)
                                .isCloseTo(ref.item(), org.assertj.core.data.Offset.offset(tol * Math.abs(ref.item())));
                        got.mul(1.7).backward();
                        assertThat(GradCheck.relErr(
                                        hc.grad().toDoubleArray(), h.grad().toDoubleArray()))
                                .as("d hidden, chunk " + chunk)
                                .isLessThan(tol);
                        assertThat(GradCheck.relErr(
                                        wc.grad().toDoubleArray(), w.grad().toDoubleArray()))
                                .as("d weight, chunk " + chunk)
                                .isLessThan(tol);
                    }
                }
            }
        }
    }

    @Test
    void finiteDifferencesAgreeInF64() {
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(4);
            Tensor h = rng.normal(0, 1, 5, 4).to(DType.F64).requiresGrad(true);
            Tensor w = rng.normal(0, 1, 6, 4).to(DType.F64).requiresGrad(true);
            Tensor t = Tensor.ofLongs(new long[] {0, 5, -100, 2, 3}, 5);
            GradCheck.check(x -> Losses.linearCrossEntropy(x[0], x[1], t, Losses.IGNORE_INDEX, 0.05, 2), h, w);
        }
    }

    @Test
    void withoutGradientsOnlyTheValueIsComputedAndAllIgnoredIsZero() {
        try (Scope s = Scope.open();
                var off = GradMode.noGrad()) {
            Rng rng = new Rng(5);
            Tensor h = rng.normal(0, 1, 4, 3);
            Tensor w = rng.normal(0, 1, 5, 3);
            Tensor ref =
                    Losses.crossEntropy(LinearAlgebra.linear(h, w, null), Tensor.ofLongs(new long[] {1, 2, 3, 4}, 4));
            assertThat(Losses.linearCrossEntropy(h, w, Tensor.ofLongs(new long[] {1, 2, 3, 4}, 4), -100, 0, 3)
                            .item())
                    .isCloseTo(ref.item(), org.assertj.core.data.Offset.offset(1e-6));
            assertThat(Losses.linearCrossEntropy(
                                    h, w, Tensor.ofLongs(new long[] {-100, -100, -100, -100}, 4), -100, 0, 3)
                            .item())
                    .isZero();
        }
    }

    @Test
    void badShapesAreNamed() {
        try (Scope s = Scope.open()) {
            Tensor h = Tensor.zeros(DType.F32, 4, 3);
            assertThatThrownBy(() -> Losses.linearCrossEntropy(
                            h, Tensor.zeros(DType.F32, 5, 2), Tensor.zeros(DType.I64, 4), -100, 0, 2))
                    .hasMessageContaining("does not match weight");
            assertThatThrownBy(() -> Losses.linearCrossEntropy(
                            h, Tensor.zeros(DType.F32, 5, 3), Tensor.zeros(DType.I64, 3), -100, 0, 2))
                    .hasMessageContaining("targets for 4 rows");
            assertThatThrownBy(() -> Losses.linearCrossEntropy(
                            h, Tensor.zeros(DType.F32, 5, 3), Tensor.zeros(DType.I64, 4), -100, 0, 0))
                    .hasMessageContaining("chunkRows must be positive");
        }
    }
}
