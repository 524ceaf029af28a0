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
                out.add(t.grad() == null ? new double[(int) t.numel()] : t.grad().toDoubleArray()); // no gradient: zero
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
            assertThat(GradCheck.relErr(composed[i], kernel[i])).as(family.getSimpleName() + " " + (i == 0 ? "value" : "gradient " + i)).isLessThan(tol);
        }
    }

    @Test
    void lightNetComposedEqualsTheCpuKernel() {
        Rng r = new Rng(1);
        Tensor q = r.normal(DType.F64, 0, 1, 2, 19, 2, 3), k = r.normal(DType.F64, 0, 1, 2, 19, 2, 3), v = r.normal(DType.F64, 0, 1, 2, 19, 2, 4);
        sameWithout(LightNetKernels.class, t -> LightNet.apply(t[0], t[1], t[2], null, false).output(), 1e-12, q, k, v);
    }

    @Test
    void lcsmComposedEqualsTheCpuKernel() {
        Rng r = new Rng(2);
        Tensor i = r.normal(DType.F64, 0, 1, 2, 9, 4), e = r.normal(DType.F64, 0, 1, 2, 9, 3, 1);
        Tensor logO = Elementwise.mulScalar(r.uniform(DType.F64, 0.01, 0.5, 1, 1, 3, 4), -1), s = r.normal(DType.F64, 0, 1, 2, 9, 3, 1);
        sameWithout(LcsmKernels.class, t -> Lcsm.scan(t[0], t[1], t[2], t[3], null).output(), 1e-12, i, e, logO, s);
    }

    @Test
    void softmaxAttentionComposedEqualsTheCpuKernelAlsoOnPackedSequences() {
        Rng r = new Rng(3);
        Tensor q = r.normal(DType.F32, 0, 1, 1, 23, 4, 8), k = r.normal(DType.F32, 0, 1, 1, 23, 2, 8), v = r.normal(DType.F32, 0, 1, 1, 23, 2, 5);
        int[] cu = {0, 9, 9, 23};
        sameWithout(AttentionKernels.class, t -> SoftmaxAttention.attention(t[0], t[1], t[2], 0.35, true, 0, cu, cu), 2e-5, q, k, v);
        sameWithout(AttentionKernels.class, t -> SoftmaxAttention.attention(t[0], t[1], t[2], 0.35, false, 0), 2e-5, q, k, v);
        // packed sequences attend only to their own keys: equal to each sequence alone
        Tensor packed = SoftmaxAttention.attention(q, k, v, 0.35, true, 0, cu, cu);
        Tensor alone = SoftmaxAttention.attention(q.narrow(1, 9, 14), k.narrow(1, 9, 14), v.narrow(1, 9, 14), 0.35, true, 0);
        assertThat(GradCheck.relErr(packed.narrow(1, 9, 14).toDoubleArray(), alone.toDoubleArray())).isLessThan(1e-6);
    }

    @Test
    void adamwComposedEqualsTheCpuKernel() {
        Rng r = new Rng(4);
        Tensor schedule = Tensor.of(new double[] {3e-2, 1 - 0.9 * 0.9, 1 - 0.999 * 0.999}, 3);
        Tensor[] a = {r.normal(DType.F64, 0, 1, 7, 5), r.normal(DType.F64, 0, 1, 7, 5), r.normal(DType.F64, 0, 0.1, 7, 5), r.uniform(DType.F64, 0, 0.1, 7, 5)};
        Tensor[] b = {a[0].copy(), a[1], a[2].copy(), a[3].copy()};
        AdamWCpu.INSTANCE.update(List.of(new AdamWKernels.Slot(a[0], a[1], a[2], a[3], 0.5, 0.1)), schedule, 0.9, 0.999, 1e-8);
        try (var none = Kernels.use(AdamWKernels.class, null)) {
            AdamWUpdate.apply(List.of(new AdamWKernels.Slot(b[0], b[1], b[2], b[3], 0.5, 0.1)), schedule, 0.9, 0.999, 1e-8);
        }
        assertThat(GradCheck.relErr(b[0].toDoubleArray(), a[0].toDoubleArray())).isLessThan(1e-14);
        assertThat(GradCheck.relErr(b[2].toDoubleArray(), a[2].toDoubleArray())).isLessThan(1e-14);
        assertThat(GradCheck.relErr(b[3].toDoubleArray(), a[3].toDoubleArray())).isLessThan(1e-14);
        assertThat(GradCheck.relErr(b[0].toDoubleArray(), a[1].toDoubleArray())).isGreaterThan(0.1); // it moved
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
                Tensor ds = Elementwise.mul(s, Elementwise.add(Elementwise.mul(g, Elementwise.sub(Tensor.ones(1).to(DType.F64), s)), Tensor.ones(1).to(DType.F64)));
                return new Tensor[] {Elementwise.mul(Elementwise.mul(dy, u), ds), Elementwise.mul(dy, Elementwise.mul(g, s))};
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

    @Test
    void moeGroupedLinearRunsARegisteredKernelAndRoutesItsGradients() {
        Rng r = new Rng(6);
        int[] counts = {3, 0, 5, 1};
        Tensor rows = r.normal(DType.F64, 0, 1, 9, 4);
        Tensor[] w = new Tensor[4];
        for (int e = 0; e < 4; e++) {
            w[e] = r.normal(DType.F64, 0, 1, 6, 4);
        }
        Function<Tensor[], Tensor> f = t -> Moe.groupedLinear(t[0], counts, new Tensor[] {t[1], t[2], t[3], t[4]});
        double[][] composed = valueAndGrads(f, rows, w[0], w[1], w[2], w[3]);
        MoeKernels standIn = new MoeKernels() {
            @Override
            public Moe.Dispatch dispatch(Tensor topk, int experts) {
                throw new UnsupportedOperationException();
            }

            @Override
            public Tensor groupedLinear(Tensor x, int[] c, Tensor[] ws) {
                try (var none = Kernels.use(MoeKernels.class, null)) {
                    Tensor[] d = new Tensor[ws.length];
                    for (int e = 0; e < ws.length; e++) {
                        d[e] = ws[e].detach();
                    }
                    return Moe.groupedLinear(x.detach(), c, d);
                }
            }

            @Override
            public Tensor[] groupedLinearBackward(Tensor x, int[] c, Tensor[] ws, Tensor dy) {
                Tensor[] out = new Tensor[ws.length + 1];
                List<Tensor> dx = new ArrayList<>();
                int at = 0;
                for (int e = 0; e < ws.length; e++) {
                    Tensor xe = x.narrow(0, at, c[e]);
                    Tensor de = dy.narrow(0, at, c[e]);
                    dx.add(LinearAlgebra.matmul(de, ws[e]));
                    out[e + 1] = LinearAlgebra.matmul(de, xe, true, false);
                    at += c[e];
                }
                out[0] = Views.concat(0, dx.toArray(Tensor[]::new));
                return out;
            }
        };
        double[][] viaKernel;
        try (var k = Kernels.use(MoeKernels.class, standIn)) {
            viaKernel = valueAndGrads(f, rows, w[0], w[1], w[2], w[3]);
        }
        for (int i = 0; i < composed.length; i++) {
            assertThat(GradCheck.relErr(viaKernel[i], composed[i])).as("%d", i).isLessThan(1e-13);
        }
        Moe.Dispatch d = Moe.dispatch(Tensor.ofLongs(new long[] {2, 0, 0, 2, 3, 2}, 3, 2), 4);
        assertThat(d.counts()).containsExactly(2, 0, 3, 1);
        assertThat(d.tokens().toLongArray()).containsExactly(0, 1, 0, 1, 2, 2);
        assertThat(d.pairs().toLongArray()).containsExactly(1, 2, 0, 3, 5, 4);
        assertThat(d.start(2)).isEqualTo(2);
    }

    @Test
    void shortConvolutionRunsARegisteredKernelAndDecodesInPlace() {
        Rng r = new Rng(7);
        Tensor x = r.normal(DType.F64, 0, 1, 2, 7, 5), w = r.normal(DType.F64, 0, 1, 5, 4), b = r.normal(DType.F64, 0, 1, 5);
        Tensor tail = r.normal(DType.F64, 0, 1, 2, 3, 5);
        // the composed form against the definition, one output
        ShortConvolution.Result res = ShortConvolution.apply(x, w, b, tail, true);
        double acc = b.get(2);
        for (int j = 0; j < 4; j++) {
            int pos = 1 - 3 + j; // output t = 1
            acc += w.get(2, j) * (pos < 0 ? tail.get(1, 3 + pos, 2) : x.get(1, pos, 2));
        }
        assertThat(res.output().get(1, 1, 2)).isCloseTo(acc / (1 + Math.exp(-acc)), org.assertj.core.data.Offset.offset(1e-12));
        assertThat(res.tail().toDoubleArray()).containsExactly(x.narrow(1, 4, 3).contiguous().toDoubleArray());
        // decoding token by token equals the whole sequence
        Tensor state = tail.copy();
        for (int t = 0; t < 7; t++) {
            Tensor y = ShortConvolution.decode(x.narrow(1, t, 1), w, b, state, true);
            assertThat(GradCheck.relErr(y.toDoubleArray(), res.output().narrow(1, t, 1).contiguous().toDoubleArray())).isLessThan(1e-14);
        }
        assertThat(state.toDoubleArray()).containsExactly(res.tail().contiguous().toDoubleArray());
        int[] calls = new int[3];
        ShortConvKernels standIn = new ShortConvKernels() {
            @Override
            public Tensor forward(Tensor xx, Tensor ww, Tensor bb, Tensor tt, boolean silu) {
                calls[0]++;
                try (var none = Kernels.use(ShortConvKernels.class, null)) {
                    return ShortConvolution.apply(xx.detach(), ww.detach(), bb.detach(), tt.detach(), silu).output();
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
            assertThat(GradCheck.relErr(y.toDoubleArray(), res.output().toDoubleArray())).isLessThan(1e-15);
            y.sum().backward();
            assertThat(xg.grad().toDoubleArray()).containsOnly(1.0);
            ShortConvolution.decode(x.narrow(1, 0, 1), w, b, tail.copy(), true);
        }
        assertThat(calls).containsExactly(1, 1, 1);
    }
}
