package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.backend.BinaryOp;
import fulgur.backend.ReduceOp;
import fulgur.backend.UnaryOp;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.Ref;
import fulgur.testing.ScopedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Finite-difference gradient checks in f64 of every differentiable op, and the accumulation rules of the tape. */
class GradientsTest extends ScopedTest {

    static Tensor randn(long seed, int... shape) {
        return Tensor.of(Ref.randn(seed, shape).v(), shape);
    }

    static Tensor of(double[] v, int... shape) {
        return Tensor.of(v, shape);
    }

    // ------------------------------------------------------------------ elementwise

    @ParameterizedTest
    @EnumSource(UnaryOp.class)
    void unary(UnaryOp op) {
        for (double p : UnaryOpsTest.params(op)) {
            double[] x = UnaryOpsTest.inputs(op, p, 7 + op.ordinal(), 6);
            for (int i = 0; i < x.length; i++) {
                x[i] /= 3; // inputs(…) are scaled for range; keep finite differences well conditioned
                if (op == UnaryOp.LOG
                        || op == UnaryOp.SQRT
                        || op == UnaryOp.RSQRT
                        || (op == UnaryOp.POW && p != Math.rint(p))) {
                    x[i] += 0.2;
                }
            }
            GradCheck.check(t -> UnaryOpsTest.apply(op, t[0], p), of(x, 2, 3));
            // through a transposed view as well
            GradCheck.check(t -> UnaryOpsTest.apply(op, t[0].mT(), p), of(x, 2, 3));
        }
    }

    @ParameterizedTest
    @EnumSource(
            value = BinaryOp.class,
            names = {"ADD", "SUB", "MUL", "DIV", "POW", "MAXIMUM", "MINIMUM"})
    void binaryWithBroadcasting(BinaryOp op) {
        int[][][] pairs = {{{2, 3}, {2, 3}}, {{3, 1, 4}, {2, 1}}, {{}, {2, 3}}, {{2, 3}, {}}, {{4}, {2, 3, 4}}};
        long seed = 20L * op.ordinal();
        for (int[][] pr : pairs) {
            double[][] ab = BinaryOpsTest.operands(op, seed++, (int) Ref.numel(pr[0]), (int) Ref.numel(pr[1]));
            if (op == BinaryOp.MAXIMUM || op == BinaryOp.MINIMUM) {
                ab = new double[][] {Ref.normal(seed++, ab[0].length, 1), Ref.normal(seed++, ab[1].length, 1)
                }; // no ties
            }
            GradCheck.check(t -> BinaryOpsTest.apply(op, t[0], t[1]), of(ab[0], pr[0]), of(ab[1], pr[1]));
        }
    }

    @Test
    void fusedSiluMulMatchesItsCompositionAndHasExactGradients() {
        GradCheck.check(t -> Activations.siluMul(t[0], t[1]), randn(11, 3, 5).mul(3.0), randn(12, 3, 5));
        GradCheck.check(
                t -> Activations.siluMul(t[0], t[1]), randn(13, 3, 5), randn(14, 1, 5)); // broadcast: the composed path
        Tensor g = randn(15, 4, 7).mul(4.0);
        Tensor u = randn(16, 4, 7);
        assertThat(GradCheck.relErr(
                        Activations.siluMul(g, u).toDoubleArray(),
                        Activations.silu(g).mul(u).toDoubleArray()))
                .isLessThan(1e-15);
    }

    @Test
    void sameTensorOnBothSides() {
        GradCheck.check(t -> t[0].mul(t[0]).add(t[0].div(t[0].add(3.0))), randn(1, 3, 2));
        GradCheck.check(t -> Elementwise.pow(t[0].abs().add(0.5), t[0]), randn(2, 5));
    }

    // ------------------------------------------------------------------ reductions

    @ParameterizedTest
    @EnumSource(ReduceOp.class)
    void reductions(ReduceOp op) {
        int[][] axesList = {{0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1, 2}, {-1}};
        long seed = 40L * op.ordinal();
        for (int[] axes : axesList) {
            for (boolean keep : new boolean[] {false, true}) {
                GradCheck.check(t -> Reductions.reduce(op, t[0], axes, keep), randn(seed++, 2, 3, 4));
                GradCheck.check(t -> Reductions.reduce(op, t[0].permute(2, 0, 1), axes, keep), randn(seed++, 2, 3, 4));
            }
        }
    }

    @Test
    void maxGradientIsSharedAmongTies() {
        Tensor x = of(new double[] {1, 3, 3, 2, 5, 5, 5, 0}, 2, 4).requiresGrad(true);
        x.max(1, false).sum().backward();
        assertThat(x.grad().toDoubleArray()).containsExactly(0, 0.5, 0.5, 0, 1 / 3.0, 1 / 3.0, 1 / 3.0, 0);
    }

    // ------------------------------------------------------------------ linear algebra

    @Test
    void matmulVariants() {
        GradCheck.check(t -> t[0].matmul(t[1]), randn(1, 3, 4), randn(2, 4, 2));
        GradCheck.check(t -> t[0].matmul(t[1]), randn(3, 2, 1, 3, 4), randn(4, 3, 4, 2));
        GradCheck.check(t -> t[0].matmul(t[1]), randn(5, 3, 4), randn(6, 2, 4, 5));
        GradCheck.check(t -> t[0].mT().matmul(t[1].permute(0, 2, 1)), randn(7, 4, 3), randn(8, 2, 5, 4));
        GradCheck.check(t -> t[0].expand(2, 3, 4).matmul(t[1]), randn(9, 1, 3, 4), randn(10, 2, 4, 3));
        for (boolean ta : new boolean[] {false, true}) {
            for (boolean tb : new boolean[] {false, true}) {
                GradCheck.check(
                        t -> LinearAlgebra.matmul(t[0], t[1], ta, tb),
                        randn(11, 2, ta ? 4 : 3, ta ? 3 : 4),
                        randn(12, 1, tb ? 2 : 4, tb ? 4 : 2));
            }
        }
    }

    @Test
    void matmulWithOneDimensionalOperands() {
        GradCheck.check(t -> t[0].matmul(t[1]), randn(1, 4), randn(2, 4, 3));
        GradCheck.check(t -> t[0].matmul(t[1]), randn(3, 3, 4), randn(4, 4));
        GradCheck.check(t -> t[0].matmul(t[1]), randn(5, 4), randn(6, 4));
        GradCheck.check(t -> t[0].matmul(t[1]), randn(7, 4), randn(8, 2, 4, 3));
    }

    @Test
    void linear() {
        GradCheck.check(t -> LinearAlgebra.linear(t[0], t[1], t[2]), randn(1, 2, 3, 4), randn(2, 5, 4), randn(3, 5));
        GradCheck.check(t -> LinearAlgebra.linear(t[0], t[1], null), randn(4, 4), randn(5, 5, 4));
        GradCheck.check(t -> LinearAlgebra.linear(t[0].mT(), t[1], t[2]), randn(6, 4, 3), randn(7, 2, 4), randn(8, 2));
    }

    // ------------------------------------------------------------------ nn ops

    @Test
    void softmaxAndLogSoftmax() {
        for (int axis = -3; axis < 3; axis++) {
            int a = axis;
            GradCheck.check(t -> Activations.softmax(t[0], a), randn(10 + a, 2, 3, 4));
            GradCheck.check(t -> Activations.logSoftmax(t[0], a), randn(20 + a, 2, 3, 4));
        }
    }

    @Test
    void crossEntropy() {
        Tensor targets = Tensor.ofInts(new int[] {1, -100, 4, 0}, 4);
        for (double eps : new double[] {0, 0.2}) {
            GradCheck.check(t -> Losses.crossEntropy(t[0], targets, -100, eps), randn(1, 4, 5));
            GradCheck.check(t -> Losses.crossEntropy(t[0].mT(), targets, -100, eps), randn(2, 5, 4));
            GradCheck.check(
                    t -> Losses.crossEntropy(t[0], Tensor.ofLongs(new long[] {2, 2, 0, 1, 3, 3}, 2, 3), 3, eps),
                    randn(3, 2, 3, 5));
        }
    }

    @Test
    void embedding() {
        Tensor ids = Tensor.ofLongs(new long[] {1, 4, 1, 0, 1, 5}, 2, 3);
        GradCheck.check(t -> Indexing.embedding(t[0], ids), randn(1, 6, 3));
        GradCheck.check(t -> Indexing.embedding(t[0].mT(), ids), randn(2, 3, 6));
    }

    @Test
    void norms() {
        GradCheck.check(t -> Norms.rmsNorm(t[0], null, 1e-5), randn(1, 3, 5));
        GradCheck.check(t -> Norms.rmsNorm(t[0], t[1], 1e-5), randn(2, 2, 3, 5), randn(3, 5));
        GradCheck.check(t -> Norms.rmsNorm(t[0].mT(), t[1], 0.3), randn(4, 5, 3), randn(5, 5));
        GradCheck.check(t -> Norms.layerNorm(t[0], null, null, 1e-5), randn(6, 3, 5));
        GradCheck.check(t -> Norms.layerNorm(t[0], t[1], null, 1e-5), randn(7, 3, 5), randn(8, 5));
        GradCheck.check(t -> Norms.layerNorm(t[0], null, t[1], 1e-5), randn(9, 3, 5), randn(10, 5));
        GradCheck.check(t -> Norms.layerNorm(t[0].mT(), t[1], t[2], 1e-5), randn(11, 5, 3), randn(12, 5), randn(13, 5));
    }

    @Test
    void dropoutWithAFixedStream() {
        GradCheck.check(t -> Activations.dropout(t[0], 0.4, new Rng(3), true), randn(1, 4, 5));
    }

    // ------------------------------------------------------------------ views and data movement

    @Test
    void views() {
        GradCheck.check(t -> t[0].reshape(4, 3), randn(1, 2, 6));
        GradCheck.check(t -> t[0].permute(2, 0, 1).reshape(-1, 2), randn(2, 2, 3, 2)); // a reshape that copies
        GradCheck.check(t -> t[0].permute(1, 2, 0), randn(3, 2, 3, 4));
        GradCheck.check(t -> t[0].narrow(1, 1, 2), randn(4, 2, 4));
        GradCheck.check(t -> t[0].select(0, 1).select(-1, 2), randn(5, 3, 2, 4));
        GradCheck.check(t -> t[0].expand(3, 2, 4), randn(6, 2, 1));
        GradCheck.check(t -> t[0].unsqueeze(0).expand(2, 3, 4).sum(0, false), randn(7, 3, 1));
        GradCheck.check(t -> t[0].transpose(0, 2).contiguous(), randn(8, 2, 3, 2));
        GradCheck.check(t -> t[0].mT().copy(), randn(9, 3, 2));
        GradCheck.check(t -> t[0].flatten().narrow(0, 1, 4), randn(10, 2, 3));
        GradCheck.check(t -> t[0].squeeze(1).unsqueeze(-1), randn(11, 3, 1, 2));
    }

    @Test
    void concatSplitStackChunk() {
        GradCheck.check(t -> Views.concat(1, t[0], t[1].mT(), t[2]), randn(1, 2, 3), randn(2, 1, 2), randn(3, 2, 2));
        GradCheck.check(
                t -> {
                    Tensor[] parts = Views.split(t[0], 1, 1, 3, 2);
                    return parts[0].add(parts[2].narrow(1, 0, 1)).mul(parts[1].sum(1, true));
                },
                randn(4, 2, 6));
        GradCheck.check(t -> Views.stack(2, t[0], t[1]), randn(5, 2, 3), randn(6, 2, 3));
        GradCheck.check(
                t -> {
                    Tensor[] c = Views.chunk(t[0], 0, 3);
                    return c[0].mul(c[1]).sub(c[2]);
                },
                randn(7, 6, 2));
    }

    @Test
    void gatherScatterIndexSelect() {
        Tensor index = Tensor.ofLongs(new long[] {0, 2, 2, 1, 0, 0}, 2, 3);
        GradCheck.check(t -> Indexing.gather(t[0], 1, index), randn(1, 2, 4));
        GradCheck.check(t -> Indexing.gather(t[0], 0, Tensor.ofLongs(new long[] {1, 0, 1, 1}, 2, 2)), randn(2, 3, 2));
        GradCheck.check(t -> Indexing.scatterAdd(t[0], 1, index, t[1]), randn(3, 2, 4), randn(4, 2, 3));
        GradCheck.check(t -> Indexing.indexSelect(t[0], 0, Tensor.ofLongs(new long[] {2, 0, 2}, 3)), randn(5, 3, 2));
        GradCheck.check(t -> Indexing.indexSelect(t[0].mT(), 1, Tensor.ofInts(new int[] {1, 1}, 2)), randn(6, 3, 2));
    }

    @Test
    void whereMaskedFillCumsum() {
        Tensor cond = Tensor.of(DType.F32, new double[] {1, 0, 0, 1, 1, 0}, 2, 3);
        GradCheck.check(t -> Indexing.where(cond, t[0], t[1]), randn(1, 2, 3), randn(2, 3));
        GradCheck.check(t -> Indexing.where(cond.narrow(0, 0, 1), t[0], t[1]), randn(3, 2, 1), randn(4));
        GradCheck.check(t -> Indexing.maskedFill(t[0], cond, -1.5), randn(5, 2, 3));
        GradCheck.check(t -> Indexing.cumsum(t[0], 1), randn(6, 2, 4));
        GradCheck.check(t -> Indexing.cumsum(t[0].mT(), 0), randn(7, 2, 4));
    }

    @Test
    void aComposition() {
        // a small attention-like block: every op family in one graph
        GradCheck.check(
                t -> {
                    Tensor q = LinearAlgebra.linear(t[0], t[1], null);
                    Tensor s = Activations.softmax(q.matmul(t[0].mT()).mul(0.5), -1);
                    Tensor h = Norms.rmsNorm(s.matmul(t[0]).add(t[0]), t[2], 1e-6);
                    return Activations.silu(h).sum(-1, false);
                },
                randn(1, 3, 4),
                randn(2, 4, 4),
                randn(3, 4));
    }

    // ------------------------------------------------------------------ accumulation rules of the tape

    @Test
    void aLeafUsedTwiceGetsTheSumOfBothPaths() {
        Tensor x = of(new double[] {1, -2, 3}, 3).requiresGrad(true);
        x.mul(x).add(x).sum().backward();
        assertThat(x.grad().toDoubleArray()).containsExactly(3, -3, 7);
    }

    @Test
    void backwardTwiceAccumulatesAndZeroGradResets() {
        Tensor x = of(new double[] {1, 2}, 2).requiresGrad(true);
        Tensor loss = x.mul(x).sum();
        loss.backward();
        assertThat(x.grad().toDoubleArray()).containsExactly(2, 4);
        Tensor firstGrad = x.grad();
        loss.backward();
        assertThat(x.grad().toDoubleArray()).containsExactly(4, 8);
        assertThat(x.grad()).as("accumulates in place").isSameAs(firstGrad);
        x.zeroGrad();
        assertThat(x.grad()).isNull();
        x.mul(3.0).sum().backward();
        assertThat(x.grad().toDoubleArray()).containsExactly(3, 3);
    }

    @Test
    void explicitSeedForNonScalarOutputs() {
        Tensor x = of(new double[] {1, 2, 3}, 3).requiresGrad(true);
        x.mul(2.0).backward(of(new double[] {1, 10, 100}, 3));
        assertThat(x.grad().toDoubleArray()).containsExactly(2, 20, 200);
    }

    @Test
    void onlyLeavesThatRequireGradientsReceiveThem() {
        Tensor a = of(new double[] {1, 2}, 2).requiresGrad(true);
        Tensor b = of(new double[] {3, 4}, 2);
        Tensor mid = a.mul(b);
        mid.add(a.detach()).sum().backward();
        assertThat(a.grad().toDoubleArray()).containsExactly(3, 4);
        assertThat(b.grad()).isNull();
        assertThat(mid.grad()).as("non-leaf").isNull();
        assertThat(mid.isLeaf()).isFalse();
        assertThat(a.detach().requiresGrad()).isFalse();
    }

    @Test
    void noGradRecordsNothingForAnyOp() {
        Tensor x = randn(1, 3, 4).requiresGrad(true);
        Tensor w = randn(2, 4, 4).requiresGrad(true);
        try (var g = GradMode.noGrad()) {
            try (var inner = GradMode.noGrad()) {
                assertThat(GradMode.isEnabled()).isFalse();
            }
            assertThat(GradMode.isEnabled()).as("nested guards").isFalse();
            Tensor[] outs = {
                x.matmul(w),
                Activations.softmax(x, 0),
                Norms.rmsNorm(x, null, 1e-6),
                x.reshape(12),
                x.permute(1, 0),
                Views.concat(0, x, x),
                Indexing.cumsum(x, 1),
                Reductions.sum(x),
                x.to(DType.F32),
                Losses.crossEntropy(x, Tensor.ofLongs(new long[] {0, 1, 2}, 3))
            };
            for (Tensor o : outs) {
                assertThat(o.requiresGrad()).isFalse();
                assertThat(o.gradFn()).isNull();
            }
        }
        assertThat(GradMode.isEnabled()).isTrue();
    }

    @Test
    void gradientsOfLowPrecisionLeavesAreF32() {
        Tensor x = Tensor.of(DType.BF16, new double[] {1, 2, 3}, 3).requiresGrad(true);
        x.mul(x).sum().backward();
        assertThat(x.grad().dtype()).isEqualTo(DType.F32);
        assertThat(x.grad().toDoubleArray()).containsExactly(2, 4, 6);
    }
}
