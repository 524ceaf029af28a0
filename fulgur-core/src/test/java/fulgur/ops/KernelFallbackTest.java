package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Kernels;
import fulgur.ops.adamw.AdamWCpu;
import fulgur.ops.adamw.AdamWKernels;
import fulgur.ops.adamw.AdamWUpdate;
import fulgur.ops.attention.AttentionKernels;
import fulgur.ops.attention.SoftmaxAttention;
import fulgur.ops.conv.ShortConvKernels;
import fulgur.ops.conv.ShortConvolution;
import fulgur.ops.lcsm.Lcsm;
import fulgur.ops.lcsm.LcsmKernels;
import fulgur.ops.lightnet.LightNet;
import fulgur.ops.lightnet.LightNetKernels;
import fulgur.ops.moe.Moe;
import fulgur.ops.moe.MoeKernels;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * The one fallback rule, family by family: where a device has no kernel registered the composed form runs and gives the
 * kernel's values and gradients; where a kernel is registered (here a stand-in, as a device module would plug in) the
 * op runs it and routes its gradients.
 */
class KernelFallbackTest {

    /** Values of f and the gradients of a random weighting of them with respect to each input. */
    private static double[][] valueAndGrads(Function<Tensor[], Tensor> f, Tensor... x) {
        Tensor[] in = new Tensor[x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = x[i] == null ? null : x[i].copy().requiresGrad(true);
        }
        Tensor y = f.apply(in);
        Elementwise.mul(y, new Rng(31).normal(y.dtype(), 0, 1, y.shape())).sum().backward();
        List<double[]> out = new ArrayList<>();
        out.add(y.toDoubleArray());
        for (Tensor t : in) {
            if (t != null) {
                out.add(
                        t.grad() == null
                                ? new double[(int) t.numel()]
                                : t.grad().toDoubleArray()); // no gradient: zero
            }
        }
        return out.toArray(double[][]::new);
    }

    private static <K> void sameWithout(Class<K> family, Function<Tensor[], Tensor> f, double tol, Tensor... x) {
        double[][] kernel = valueAndGrads(f, x);
        double[][] composed;
        try (var none = Kernels.use(family, null)) {
            composed = valueAndGrads(f, x);
        }
        for (int i = 0; i < kernel.length; i++) {
            assertThat(GradCheck.relErr(composed[i], kernel[i]))
                    .as(family.getSimpleName() + " " + (i == 0 ? "value" : "gradient " + i))
                    .isLessThan(tol);
        }
    }

    @Test
    void lightNetComposedEqualsTheCpuKernel() {
        Rng r = new Rng(1);
        Tensor q = r.normal(DType.F64, 0, 1, 2, 19, 2, 3),
                k = r.normal(DType.F64, 0, 1, 2, 19, 2, 3),
                v = r.normal(DType.F64, 0, 1, 2, 19, 2, 4);
        sameWithout(
                LightNetKernels.class,
                t -> LightNet.apply(t[0], t[1], t[2], null, false).output(),
                1e-12,
                q,
                k,
                v);
    }

    @Test
    void lcsmComposedEqualsTheCpuKernel() {
        Rng r = new Rng(2);
        Tensor i = r.normal(DType.F64, 0, 1, 2, 9, 4), e = r.normal(DType.F64, 0, 1, 2, 9, 3, 1);
        Tensor logO = Elementwise.mulScalar(r.uniform(DType.F64, 0.01, 0.5, 1, 1, 3, 4), -1),
                s = r.normal(DType.F64, 0, 1, 2, 9, 3, 1);
        sameWithout(
                LcsmKernels.class, t -> Lcsm.scan(t[0], t[1], t[2], t[3], null).output(), 1e-12, i, e, logO, s);
    }

    @Test
    void softmaxAttentionComposedEqualsTheCpuKernelAlsoOnPackedSequences() {
        Rng r = new Rng(3);
        Tensor q = r.normal(DType.F32, 0, 1, 1, 23, 4, 8),
                k = r.normal(DType.F32, 0, 1, 1, 23, 2, 8),
                v = r.normal(DType.F32, 0, 1, 1, 23, 2, 5);
        int[] cu = {0, 9, 9, 23};
        sameWithout(
                AttentionKernels.class,
                t -> SoftmaxAttention.attention(t[0], t[1], t[2], 0.35, true, 0, cu, cu),
                2e-5,
                q,
                k,
                v);
        sameWithout(
                AttentionKernels.class,
                t -> SoftmaxAttention.attention(t[0], t[1], t[2], 0.35, false, 0),
                2e-5,
                q,
                k,
                v);
        // packed sequences attend only to their own keys: equal to each sequence alone
        Tensor packed = SoftmaxAttention.attention(q, k, v, 0.35, true, 0, cu, cu);
        Tensor alone =
                SoftmaxAttention.attention(q.narrow(1, 9, 14), k.narrow(1, 9, 14), v.narrow(1, 9, 14), 0.35, true, 0);
        assertThat(GradCheck.relErr(packed.narrow(1, 9, 14).toDoubleArray(), alone.toDoubleArray()))
                .isLessThan(1e-6);
    }

    @Test
    void adamwComposedEqualsTheCpuKernel() {
        Rng r = new Rng(4);
        Tensor schedule = Tensor.of(new double[] {3e-2, 1 - 0.9 * 0.9, 1 - 0.999 * 0.999}, 3);
        Tensor[] a = {
            r.normal(DType.F64, 0, 1, 7, 5),
            r.normal(DType.F64, 0, 1, 7, 5),
            r.normal(DType.F64, 0, 0.1, 7, 5),
            r.uniform(DType.F64, 0, 0.1, 7, 5)
        };
        Tensor[] b = {a[0].copy(), a[1], a[2].copy(), a[3].copy()};
        AdamWCpu.INSTANCE.update(
                List.of(new AdamWKernels.Slot(a[0], a[1], a[2], a[3], 0.5, 0.1)), schedule, 0.9, 0.999, 1e-8);
        try (var none = Kernels.use(AdamWKernels.class, null)) {
            AdamWUpdate.apply(
                    List.of(new AdamWKernels.Slot(b[0], b[1], b[2], b[3], 0.5, 0.1)), schedule, 0.9, 0.999, 1e-8);
        }
        assertThat(GradCheck.relErr(b[0].toDoubleArray(), a[0].toDoubleArray())).isLessThan(1e-14);
        assertThat(GradCheck.relErr(b[2].toDoubleArray(), a[2].toDoubleArray())).isLessThan(1e-14);
        assertThat(GradCheck.relErr(b[3].toDoubleArray(), a[3].toDoubleArray())).isLessThan(1e-14);
        assertThat(GradCheck.relErr(b[0].toDoubleArray(), a[1].toDoubleArray())).isGreaterThan(0.1); // it moved
    }

    /** Products into a tensor by the backend's matmul, counting the calls (f64: exact up to summation order). */
    private static final class CountingMatmulInto implements MatmulIntoKernels {
        int into;
        int plus;

        @Override
        public boolean supports(Tensor a, Tensor b, Tensor c) {
            return a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2 && c.stride(1) == 1;
        }

        @Override
        public void matmulInto(Tensor a, Tensor b, boolean transA, boolean transB, Tensor c, double beta) {
            into++;
            Tensor p = fulgur.backend.Backends.of(a).matmul(a, b, transA, transB, c.dtype());
            c.copyFrom(beta == 0 ? p : Elementwise.add(p, Elementwise.mul(c, Tensor.scalar(c.dtype(), beta))));
        }

        @Override
        public Tensor matmulPlus(Tensor a, Tensor b, boolean transA, boolean transB, Tensor addend) {
            plus++;
            return Elementwise.add(fulgur.backend.Backends.of(a).matmul(a, b, transA, transB, addend.dtype()), addend);
        }
    }

    /**
     * Two linear maps of one input (SGLU's): the second map's backward folds the first one's input gradient into its
     * product, and every gradient is the composed one's.
     */
    @Test
    void aSecondLinearMapOfOneInputFoldsTheInputsGradientIntoItsProduct() {
        Rng r = new Rng(8);
        Tensor x = r.normal(DType.F64, 0, 1, 2, 3, 5);
        Tensor w1 = r.normal(DType.F64, 0, 1, 4, 5), w2 = r.normal(DType.F64, 0, 1, 4, 5);
        Function<Tensor[], Tensor> sglu =
                t -> Elementwise.mul(LinearAlgebra.linear(t[0], t[1], null), LinearAlgebra.linear(t[0], t[2], null));
        double[][] composed = valueAndGrads(sglu, x, w1, w2);
        CountingMatmulInto standIn = new CountingMatmulInto();
        double[][] folded;
        try (var k = Kernels.use(MatmulIntoKernels.class, standIn)) {
            folded = valueAndGrads(sglu, x, w1, w2);
        }
        assertThat(standIn.plus).isEqualTo(1);
        for (int i = 0; i < composed.length; i++) {
            assertThat(GradCheck.relErr(folded[i], composed[i]))
                    .as("output %d", i)
                    .isLessThan(1e-14);
        }
    }

    /** The chunked linear cross-entropy writes its input gradient into its rows and sums the weight's in the product. */
    @Test
    void theChunkedLinearCrossEntropyWritesItsGradientsThroughProductsIntoTensors() {
        Rng r = new Rng(9);
        Tensor h = r.normal(DType.F64, 0, 1, 7, 6), w = r.normal(DType.F64, 0, 1, 11, 6);
        long[] t = {1, 4, 10, 0, 3, -100, 7};
        Tensor targets = Tensor.ofLongs(t, 7);
        Function<Tensor[], Tensor> loss = in -> Losses.linearCrossEntropy(in[0], in[1], targets, -100, 0.0, 3);
        double[][] composed = valueAndGrads(loss, h, w);
        CountingMatmulInto standIn = new CountingMatmulInto();
        double[][] into;
        try (var k = Kernels.use(MatmulIntoKernels.class, standIn)) {
            into = valueAndGrads(loss, h, w);
        }
        assertThat(standIn.into).isEqualTo(2 * 3); // three chunks of 3, 3 and 1 rows: dh rows and dW each
        for (int i = 0; i < composed.length; i++) {
            assertThat(GradCheck.relErr(into[i], composed[i]))
                    .as("output %d", i)
                    .isLessThan(1e-14);
        }
    }

    @Test
    void aSameShapeProductsBackwardRunsTheRegisteredOnePassKernelOrTheTwoProducts() {
        Rng r = new Rng(6);
        Tensor a = r.normal(DType.F64, 0, 1, 3, 6), b = r.normal(DType.F64, 0, 1, 3, 6);
        int[] calls = new int[1];
        boolean[] declines = {false};
        GluKernels standIn = new GluKernels() {
            @Override
            public Tensor siluMul(Tensor g, Tensor u) {
                throw new AssertionError("not a SwiGLU");
            }

            @Override
            public Tensor[] siluMulBackward(Tensor g, Tensor u, Tensor dy) {
                throw new AssertionError("not a SwiGLU");
            }

            @Override
            public Tensor[] mulBackward(Tensor x, Tensor y, Tensor dy) {
                calls[0]++;
                return declines[0] ? null : new Tensor[] {Elementwise.mul(dy, y), Elementwise.mul(dy, x)};
            }
        };
        double[][] composed = valueAndGrads(t -> Elementwise.mul(t[0], t[1]), a, b);
        for (boolean decline : new boolean[] {false, true}) {
            declines[0] = decline;
            double[][] viaKernel;
            try (var k = Kernels.use(GluKernels.class, standIn)) {
                viaKernel = valueAndGrads(t -> Elementwise.mul(t[0], t[1]), a, b);
            }
            for (int i = 0; i < 3; i++) {
                assertThat(GradCheck.relErr(viaKernel[i], composed[i])).isLessThan(1e-15);
            }
        }
        assertThat(calls[0]).isEqualTo(2);
    }

    @Test
    void gluRunsARegisteredKernelAndRoutesItsGradients() {
        Rng r = new Rng(5);
        Tensor gate = r.normal(DType.F64, 0, 2, 3, 6), up = r.normal(DType.F64, 0, 1, 3, 6);
        int[] calls = new int[2];
        GluKernels standIn = new GluKernels() {
            @Override
            public Tensor siluMul(Tensor g, Tensor u) {
                calls[0]++;
                try (var none = Kernels.use(GluKernels.class, null)) {
                    return Activations.siluMul(g.detach(), u.detach());
                }
            }

            @Override
            public Tensor[] siluMulBackward(Tensor g, Tensor u, Tensor dy) {
                calls[1]++;
                Tensor s = Activations.sigmoid(g);
                Tensor ds = Elementwise.mul(
                        s,
                        Elementwise.add(
                                Elementwise.mul(
                                        g, Elementwise.sub(Tensor.ones(1).to(DType.F64), s)),
                                Tensor.ones(1).to(DType.F64)));
                return new Tensor[] {
                    Elementwise.mul(Elementwise.mul(dy, u), ds), Elementwise.mul(dy, Elementwise.mul(g, s))
                };
            }
        };
        double[][] composed = valueAndGrads(t -> Activations.siluMul(t[0], t[1]), gate, up);
        double[][] viaKernel;
        try (var k = Kernels.use(GluKernels.class, standIn)) {
            viaKernel = valueAndGrads(t -> Activations.siluMul(t[0], t[1]), gate, up);
        }
        assertThat(calls).containsExactly(1, 1);
        for (int i = 0; i < 3; i++) {
            assertThat(GradCheck.relErr(viaKernel[i], composed[i])).isLessThan(1e-13);
        }
    }

    /**
     * A stand-in whole-layer kernel: the layer composed densely (every expert on every token, weighted by the gates) on
     * its own leaves, its backward a nested backward through that graph.
     */
    private static final class DenseMoe implements MoeKernels {
        final int[] calls = new int[2];

        private record Saved(Tensor out, Tensor[] leaves) implements AutoCloseable {
            @Override
            public void close() {}
        }

        @Override
        public Forward forward(
                Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, Routing routing, boolean save) {
            calls[0]++;
            Tensor[] leaves = {
                x.copy().requiresGrad(true),
                logits.copy().requiresGrad(true),
                w1.copy().requiresGrad(true),
                w3.copy().requiresGrad(true),
                w2.copy().requiresGrad(true)
            };
            int n = x.size(0), e = logits.size(1), k = routing.topK();
            Tensor scores = routing.sigmoid() ? Activations.sigmoid(leaves[1]) : Activations.softmax(leaves[1], -1);
            Tensor top = Indexing.topkIndices(logits, k);
            Tensor wts = Indexing.gather(scores, 1, top);
            if (routing.normalizeTopK()) {
                wts = Elementwise.div(wts, Reductions.sum(wts, new int[] {1}, true));
            }
            Tensor g = Indexing.scatterAdd(Tensor.zeros(wts.dtype(), x.device(), n, e), 1, top, wts);
            Tensor out = null;
            for (int i = 0; i < e; i++) {
                Tensor h = Activations.siluMul(
                        LinearAlgebra.linear(leaves[0], leaves[2].select(0, i), null),
                        LinearAlgebra.linear(leaves[0], leaves[3].select(0, i), null));
                Tensor y = Elementwise.mul(LinearAlgebra.linear(h, leaves[4].select(0, i), null), g.narrow(1, i, 1));
                out = out == null ? y : Elementwise.add(out, y);
            }
            Tensor counts = Indexing.scatterAdd(
                    Tensor.zeros(DType.F64, x.device(), e),
                    0,
                    top.reshape(n * k),
                    Tensor.ones(n * k).to(DType.F64));
            return new Forward(out.detach(), counts.to(DType.I32), save ? new Saved(out, leaves) : null);
        }

        @Override
        public Tensor[] backward(
                Tensor x, Tensor logits, Tensor w1, Tensor w3, Tensor w2, Routing routing, Forward fwd, Tensor dOut) {
            calls[1]++;
            Saved s = (Saved) fwd.saved();
            fulgur.autograd.Autograd.backward(s.out(), dOut);
            Tensor[] grads = new Tensor[5];
            for (int i = 0; i < 5; i++) {
                grads[i] = s.leaves()[i].grad() == null
                        ? Tensor.zeros(s.leaves()[i].dtype(), x.device(), s.leaves()[i].shape())
                        : s.leaves()[i].grad();
            }
            return grads;
        }
    }

    @Test
    void moeRunsARegisteredWholeLayerKernelAndRoutesItsGradients() {
        for (boolean sigmoid : new boolean[] {false, true}) {
            Rng r = new Rng(6);
            int dim = 5, hidden = 4, e = 4, k = 2;
            Tensor x = r.normal(DType.F64, 0, 1, 3, 4, dim);
            java.util.function.Supplier<fulgur.layers.MoeFeedForward> build = () -> {
                Rng wr = new Rng(60);
                return new fulgur.layers.MoeFeedForward(
                        dim,
                        hidden,
                        new fulgur.layers.MoeFeedForward.Routing(
                                e,
                                k,
                                sigmoid
                                        ? fulgur.layers.MoeFeedForward.Gating.SIGMOID
                                        : fulgur.layers.MoeFeedForward.Gating.SOFTMAX,
                                true,
                                0.05),
                        (in, out) -> new fulgur.nn.Linear(wr.normal(DType.F64, 0, 0.5, out, in), null));
            };
            fulgur.layers.MoeFeedForward composedLayer = build.get();
            Function<Tensor[], Tensor> viaComposed = t -> {
                Tensor out = composedLayer.forward(t[0]);
                return Elementwise.add(out, composedLayer.auxLoss());
            };
            double[][] composed = valueAndGrads(viaComposed, x);
            int[] counts = composedLayer.tokensPerExpert();
            DenseMoe standIn = new DenseMoe();
            fulgur.layers.MoeFeedForward kernelLayer = build.get();
            double[][] viaKernel;
            try (var use = Kernels.use(MoeKernels.class, standIn)) {
                viaKernel = valueAndGrads(t -> Elementwise.add(kernelLayer.forward(t[0]), kernelLayer.auxLoss()), x);
            }
            assertThat(standIn.calls).containsExactly(1, 1);
            assertThat(kernelLayer.tokensPerExpert()).containsExactly(counts);
            for (int i = 0; i < composed.length; i++) {
                assertThat(GradCheck.relErr(viaKernel[i], composed[i]))
                        .as("%d", i)
                        .isLessThan(1e-12);
            }
            var cp = composedLayer.namedParameters();
            var kp = kernelLayer.namedParameters();
            for (String name : cp.keySet()) {
                assertThat(GradCheck.relErr(
                                kp.get(name).grad().toDoubleArray(),
                                cp.get(name).grad().toDoubleArray()))
                        .as(name)
                        .isLessThan(1e-12);
            }
        }
    }

    /** While a step is being captured (no host reads), the composed layer runs every expert densely: the same values. */
    @Test
    void moeComposedWhileCapturingEqualsTheHostGroupedLayer() {
        Rng r = new Rng(8);
        Rng wr = new Rng(80);
        fulgur.layers.MoeFeedForward layer = new fulgur.layers.MoeFeedForward(
                6,
                3,
                new fulgur.layers.MoeFeedForward.Routing(5, 2, fulgur.layers.MoeFeedForward.Gating.SOFTMAX, true, 0.02),
                (in, out) -> new fulgur.nn.Linear(wr.normal(DType.F64, 0, 0.5, out, in), null));
        Tensor x = r.normal(DType.F64, 0, 1, 2, 7, 6);
        double[][] grouped = valueAndGrads(t -> Elementwise.add(layer.forward(t[0]), layer.auxLoss()), x);
        int[] counts = layer.tokensPerExpert();
        double[][][] dense = new double[1][][];
        fulgur.backend.Capturing.during(() ->
                dense[0] = valueAndGrads(t -> Elementwise.add(layer.forward(t[0]), layer.auxLoss()), x));
        assertThat(layer.tokensPerExpert()).containsExactly(counts);
        for (int i = 0; i < grouped.length; i++) {
            assertThat(GradCheck.relErr(dense[0][i], grouped[i])).as("%d", i).isLessThan(1e-12);
        }
    }

    @Test
    void moeDispatchGroupsPairsByExpertStably() {
        Moe.Dispatch d = Moe.dispatch(Tensor.ofLongs(new long[] {2, 0, 0, 2, 3, 2}, 3, 2), 4);
        assertThat(d.counts()).containsExactly(2, 0, 3, 1);
        assertThat(d.tokens().toLongArray()).containsExactly(0, 1, 0, 1, 2, 2);
        assertThat(d.pairs().toLongArray()).containsExactly(1, 2, 0, 3, 5, 4);
        assertThat(d.start(2)).isEqualTo(2);
    }

    @Test
    void shortConvolutionRunsARegisteredKernelAndDecodesInPlace() {
        Rng r = new Rng(7);
        Tensor x = r.normal(DType.F64, 0, 1, 2, 7, 5),
                w = r.normal(DType.F64, 0, 1, 5, 4),
                b = r.normal(DType.F64, 0, 1, 5);
        Tensor tail = r.normal(DType.F64, 0, 1, 2, 3, 5);
        // the composed form against the definition, one output
        ShortConvolution.Result res = ShortConvolution.apply(x, w, b, tail, true);
        double acc = b.get(2);
        for (int j = 0; j < 4; j++) {
            int pos = 1 - 3 + j; // output t = 1
            acc += w.get(2, j) * (pos < 0 ? tail.get(1, 3 + pos, 2) : x.get(1, pos, 2));
        }
        assertThat(res.output().get(1, 1, 2))
                .isCloseTo(acc / (1 + Math.exp(-acc)), org.assertj.core.data.Offset.offset(1e-12));
        assertThat(res.tail().toDoubleArray())
                .containsExactly(x.narrow(1, 4, 3).contiguous().toDoubleArray());
        // decoding token by token equals the whole sequence
        Tensor state = tail.copy();
        for (int t = 0; t < 7; t++) {
            Tensor y = ShortConvolution.decode(x.narrow(1, t, 1), w, b, state, true);
            assertThat(GradCheck.relErr(
                            y.toDoubleArray(),
                            res.output().narrow(1, t, 1).contiguous().toDoubleArray()))
                    .isLessThan(1e-14);
        }
        assertThat(state.toDoubleArray())
                .containsExactly(res.tail().contiguous().toDoubleArray());
        int[] calls = new int[3];
        ShortConvKernels standIn = new ShortConvKernels() {
            @Override
            public Tensor forward(Tensor xx, Tensor ww, Tensor bb, Tensor tt, boolean silu) {
                calls[0]++;
                try (var none = Kernels.use(ShortConvKernels.class, null)) {
                    return ShortConvolution.apply(xx.detach(), ww.detach(), bb.detach(), tt.detach(), silu)
                            .output();
                }
            }

            @Override
            public Tensor[] backward(Tensor xx, Tensor ww, Tensor bb, Tensor tt, boolean silu, Tensor dy) {
                calls[1]++;
                return new Tensor[] {dy, null, null, null};
            }

            @Override
            public Tensor decode(Tensor xx, Tensor ww, Tensor bb, Tensor tt, boolean silu) {
                calls[2]++;
                return xx;
            }
        };
        try (var k = Kernels.use(ShortConvKernels.class, standIn)) {
            Tensor xg = x.copy().requiresGrad(true);
            Tensor y = ShortConvolution.apply(xg, w, b, tail, true).output();
            assertThat(GradCheck.relErr(y.toDoubleArray(), res.output().toDoubleArray()))
                    .isLessThan(1e-15);
            y.sum().backward();
            assertThat(xg.grad().toDoubleArray()).containsOnly(1.0);
            ShortConvolution.decode(x.narrow(1, 0, 1), w, b, tail.copy(), true);
        }
        assertThat(calls).containsExactly(1, 1, 1);
    }
}
