package fulgur.ops.gla;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.backend.Kernels;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/**
 * GLA's kernel seam: packed sequences in the composed form, the whole-op {@link GlaKernels} path (through a stand-in
 * kernel made of the composed form, as a device kernel would plug in), the in-place decode, and the intra-chunk kernel
 * rule.
 */
class GlaSeamTest {
    private static final int H = 2, DK = 3, DV = 4;

    private static Tensor[] inputs(long seed, int b, int t, int n) {
        Rng rng = new Rng(seed);
        Tensor g = Elementwise.mulScalar(rng.uniform(DType.F64, 0.05, 0.6, b, t, H, DK), -1);
        return new Tensor[] {
            rng.normal(DType.F64, 0, 0.5, b, t, H, DK),
            rng.normal(DType.F64, 0, 0.5, b, t, H, DK),
            rng.normal(DType.F64, 0, 1, b, t, H, DV),
            g,
            rng.normal(DType.F64, 0, 1, n, H, DK, DV)
        };
    }

    /** Values and gradients (q, k, v, g, s0) of a weighted sum of output and final state. */
    private static double[][] run(Tensor[] x, int[] cu) {
        Tensor[] in = new Tensor[x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = x[i].copy().requiresGrad(true);
        }
        Gla.Result r = Gla.chunked(in[0], in[1], in[2], in[3], 0.6, in[4], true, 4, cu);
        Tensor loss = Elementwise.add(
                Reductions.sum(Elementwise.mul(
                        r.output(),
                        new Rng(7).normal(DType.F64, 0, 1, r.output().shape()))),
                Reductions.sum(Elementwise.mul(
                        r.finalState(),
                        new Rng(8).normal(DType.F64, 0, 1, r.finalState().shape()))));
        loss.backward();
        double[][] out = new double[2 + in.length][];
        out[0] = r.output().toDoubleArray();
        out[1] = r.finalState().toDoubleArray();
        for (int i = 0; i < in.length; i++) {
            out[2 + i] = in[i].grad().toDoubleArray();
        }
        return out;
    }

    @Test
    void packedSequencesEqualEachSequenceOnItsOwn() {
        int[] cu = {0, 7, 7, 16, 19};
        Tensor[] x = inputs(1, 1, 19, 4);
        Gla.Result packed = Gla.chunked(x[0], x[1], x[2], x[3], 0.6, x[4], true, 4, cu);
        for (int i = 0; i < 4; i++) {
            int len = cu[i + 1] - cu[i];
            Tensor s0 = Views.narrow(x[4], 0, i, 1);
            double[] state = len == 0
                    ? s0.toDoubleArray()
                    : Gla.chunked(
                                    Views.narrow(x[0], 1, cu[i], len),
                                    Views.narrow(x[1], 1, cu[i], len),
                                    Views.narrow(x[2], 1, cu[i], len),
                                    Views.narrow(x[3], 1, cu[i], len),
                                    0.6,
                                    s0,
                                    true,
                                    4)
                            .finalState()
                            .toDoubleArray();
            assertThat(GradCheck.relErr(
                            Views.narrow(packed.finalState(), 0, i, 1).toDoubleArray(), state))
                    .as("state %d", i)
                    .isLessThan(1e-13);
            if (len > 0) {
                double[] o = Gla.recurrent(
                                Views.narrow(x[0], 1, cu[i], len),
                                Views.narrow(x[1], 1, cu[i], len),
                                Views.narrow(x[2], 1, cu[i], len),
                                Views.narrow(x[3], 1, cu[i], len),
                                0.6,
                                s0)
                        .output()
                        .toDoubleArray();
                assertThat(GradCheck.relErr(
                                Views.narrow(packed.output(), 1, cu[i], len).toDoubleArray(), o))
                        .as("output %d", i)
                        .isLessThan(1e-12);
            }
        }
        assertThatThrownBy(() -> Gla.chunked(x[0], x[1], x[2], x[3], 0.6, x[4], true, 4, new int[] {0, 5, 18}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("cuSeqlens ends at 18");
        assertThatThrownBy(() -> Gla.chunked(x[0], x[1], x[2], x[3], 0.6, x[4], true, 4, new int[] {0, 9, 19}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("[N,H,dk,dv]");
    }

    @Test
    void aRegisteredWholeOpKernelRunsInsteadOfTheComposedFormWithTheSameValuesAndGradients() {
        int[] cu = {0, 6, 17};
        Tensor[] x = inputs(2, 1, 17, 2);
        double[][] composed = run(x, cu);
        StandIn kernel = new StandIn();
        double[][] viaKernel;
        try (var k = Kernels.use(GlaKernels.class, kernel)) {
            viaKernel = run(x, cu);
        }
        assertThat(kernel.forwards).isEqualTo(1);
        assertThat(kernel.backwards).isEqualTo(1);
        String[] what = {"output", "final state", "dq", "dk", "dv", "dg", "dInitialState"};
        for (int i = 0; i < what.length; i++) {
            assertThat(GradCheck.relErr(viaKernel[i], composed[i])).as(what[i]).isLessThan(1e-12);
        }
    }

    @Test
    void decodeAdvancesTheStateInPlaceLikeTheRecurrentForm() {
        Tensor[] x = inputs(3, 2, 3, 2);
        Tensor state = x[4].copy();
        Gla.Result want = Gla.recurrent(x[0], x[1], x[2], x[3], 0.6, x[4]);
        Tensor o = Gla.decode(x[0], x[1], x[2], x[3], 0.6, state);
        assertThat(GradCheck.relErr(o.toDoubleArray(), want.output().toDoubleArray()))
                .isLessThan(1e-14);
        assertThat(GradCheck.relErr(state.toDoubleArray(), want.finalState().toDoubleArray()))
                .isLessThan(1e-14);
        StandIn kernel = new StandIn();
        try (var k = Kernels.use(GlaKernels.class, kernel)) {
            Gla.decode(x[0], x[1], x[2], x[3], 0.6, x[4].copy());
        }
        assertThat(kernel.decodes).isEqualTo(1);
    }

    @Test
    void withoutAnIntraChunkKernelTheComposedScoresRun() {
        Tensor[] x = inputs(4, 2, 11, 2);
        double[][] fused = run(x, null);
        double[][] composed;
        try (var none = Kernels.use(GlaIntraKernels.class, null)) {
            composed = run(x, null);
        }
        for (int i = 0; i < fused.length; i++) {
            assertThat(GradCheck.relErr(composed[i], fused[i])).isLessThan(1e-12);
        }
    }

    /**
     * A whole-op kernel made of the composed form, as a device module's kernel plugs in: packed forward, gradients from
     * the packed gradient (computed by autograd on a thread of its own, since kernels run with recording off).
     */
    static final class StandIn implements GlaKernels {
        int forwards, backwards, decodes;

        private static Gla.Result composed(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor s0, int[] cu) {
            try (var none = Kernels.use(GlaKernels.class, null)) {
                return Gla.chunked(q, k, v, g, scale, s0, true, 4, cu);
            }
        }

        @Override
        public Tensor forward(
                Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor s0, boolean wantFinalState, int[] cu) {
            forwards++;
            Gla.Result r = composed(
                    q.detach(), k.detach(), v.detach(), g.detach(), scale, s0 == null ? null : s0.detach(), cu);
            Tensor o = Views.reshape(r.output(), -1);
            return wantFinalState ? Views.concat(0, o, Views.reshape(r.finalState(), -1)) : o;
        }

        @Override
        public Tensor[] backward(
                Tensor q,
                Tensor k,
                Tensor v,
                Tensor g,
                double scale,
                Tensor s0,
                boolean wantFinalState,
                int[] cu,
                Tensor packedGrad) {
            backwards++;
            AtomicReference<Tensor[]> out = new AtomicReference<>();
            Thread t = new Thread(() -> {
                Tensor[] in = {
                    q.detach().requiresGrad(true),
                    k.detach().requiresGrad(true),
                    v.detach().requiresGrad(true),
                    g.detach().requiresGrad(true),
                    s0 == null ? null : s0.detach().requiresGrad(true)
                };
                Gla.Result r = composed(in[0], in[1], in[2], in[3], scale, in[4], cu);
                int no = (int) r.output().numel();
                Tensor loss = Reductions.sum(
                        Elementwise.mul(Views.reshape(r.output(), -1), Views.narrow(packedGrad, 0, 0, no)));
                if (wantFinalState) {
                    loss = Elementwise.add(
                            loss,
                            Reductions.sum(Elementwise.mul(
                                    Views.reshape(r.finalState(), -1), Views.narrow(packedGrad, 0, no, (int)
                                            r.finalState().numel()))));
                }
                loss.backward();
                out.set(new Tensor[] {
                    in[0].grad(), in[1].grad(), in[2].grad(), in[3].grad(), s0 == null ? null : in[4].grad()
                });
            });
            t.start();
            try {
                t.join();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return out.get();
        }

        @Override
        public Tensor recurrent(Tensor q, Tensor k, Tensor v, Tensor g, double scale, Tensor state) {
            decodes++;
            Gla.Result r = Gla.recurrent(q, k, v, g, scale, state);
            state.copyFrom(r.finalState());
            return r.output();
        }
    }
}
