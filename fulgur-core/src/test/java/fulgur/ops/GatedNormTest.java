package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Kernels;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * {@link Norms#rmsNormGated}: the composed form is the norm times the activated gate, its gradients pass finite
 * differences, and a registered kernel (a stand-in written with the CUDA kernel's backward formulas) is reached and
 * gives the composed form's values and gradients.
 */
class GatedNormTest {

    static Tensor act(Tensor z, GatedNormKernels.Gate a) {
        return switch (a) {
            case NONE -> z;
            case SILU -> Activations.silu(z);
            case SIGMOID -> Activations.sigmoid(z);
        };
    }

    @Test
    void composedFormIsTheNormTimesTheGateAndPassesFiniteDifferences() {
        Rng r = new Rng(1);
        Tensor x = r.normal(DType.F64, 0, 1, 3, 5),
                z = r.normal(DType.F64, 0, 2, 3, 5),
                w = r.normal(DType.F64, 1, 0.2, 5);
        for (GatedNormKernels.Gate a : GatedNormKernels.Gate.values()) {
            double[] got = Norms.rmsNormGated(x, w, 1e-6, z, a).toDoubleArray();
            double[] want =
                    Elementwise.mul(Norms.rmsNorm(x, w, 1e-6), act(z, a)).toDoubleArray();
            assertThat(got).containsExactly(want);
            GradCheck.check(t -> Norms.rmsNormGated(t[0], t[1], 1e-6, t[2], a), x.copy(), w.copy(), z.copy());
        }
    }

    /** The CUDA kernels' formulas, with elementwise ops in f64. */
    static final class StandIn implements GatedNormKernels {
        final int[] calls = new int[2];

        @Override
        public Tensor[] forward(Tensor x, Tensor gain, Tensor z, Gate act, double eps) {
            calls[0]++;
            Tensor rstd = Elementwise.rsqrt(
                    Elementwise.addScalar(Reductions.mean(Elementwise.square(x.detach()), new int[] {1}, true), eps));
            Tensor y = Elementwise.mul(
                    Elementwise.mul(Elementwise.mul(x.detach(), rstd), gain.detach()), act(z.detach(), act));
            return new Tensor[] {y, rstd};
        }

        @Override
        public Tensor[] backward(Tensor x, Tensor gain, Tensor z, Gate act, Tensor rstd, Tensor dy) {
            calls[1]++;
            Tensor zz = z.detach();
            Tensor a = act(zz, act);
            Tensor da = switch (act) {
                case NONE -> Tensor.ones(zz.shape()).to(DType.F64);
                case SILU -> {
                    Tensor s = Activations.sigmoid(zz);
                    yield Elementwise.mul(
                            s,
                            Elementwise.addScalar(
                                    Elementwise.mul(zz, Elementwise.addScalar(Elementwise.neg(s), 1)), 1));
                }
                case SIGMOID -> Elementwise.mul(a, Elementwise.addScalar(Elementwise.neg(a), 1));
            };
            Tensor xh = Elementwise.mul(x.detach(), rstd);
            Tensor gy = Elementwise.mul(Elementwise.mul(dy, a), gain.detach());
            Tensor dot = Reductions.mean(Elementwise.mul(gy, xh), new int[] {1}, true);
            Tensor dx = Elementwise.mul(rstd, Elementwise.sub(gy, Elementwise.mul(xh, dot)));
            Tensor dz = Elementwise.mul(Elementwise.mul(Elementwise.mul(dy, xh), gain.detach()), da);
            Tensor dgain = Reductions.sum(Elementwise.mul(Elementwise.mul(dy, a), xh), new int[] {0}, false);
            return new Tensor[] {dx, dgain, dz};
        }
    }

    @Test
    void aRegisteredKernelIsReachedAndGivesTheComposedGradients() {
        Rng r = new Rng(2);
        Tensor x = r.normal(DType.F64, 0, 1, 4, 6),
                z = r.normal(DType.F64, 0, 2, 4, 6),
                w = r.normal(DType.F64, 1, 0.2, 6);
        Tensor dy = r.normal(DType.F64, 0, 1, 4, 6);
        for (GatedNormKernels.Gate a : GatedNormKernels.Gate.values()) {
            Tensor[] c = {
                x.copy().requiresGrad(true),
                w.copy().requiresGrad(true),
                z.copy().requiresGrad(true)
            };
            Tensor yc = Norms.rmsNormGated(c[0], c[1], 1e-5, c[2], a);
            Elementwise.mul(yc, dy).sum().backward();
            StandIn standIn = new StandIn();
            Tensor[] k = {
                x.copy().requiresGrad(true),
                w.copy().requiresGrad(true),
                z.copy().requiresGrad(true)
            };
            try (var use = Kernels.use(GatedNormKernels.class, standIn)) {
                Tensor yk = Norms.rmsNormGated(k[0], k[1], 1e-5, k[2], a);
                assertThat(GradCheck.relErr(yk.toDoubleArray(), yc.toDoubleArray()))
                        .isLessThan(1e-14);
                Elementwise.mul(yk, dy).sum().backward();
            }
            assertThat(standIn.calls).containsExactly(1, 1);
            for (int i = 0; i < 3; i++) {
                assertThat(GradCheck.relErr(
                                k[i].grad().toDoubleArray(), c[i].grad().toDoubleArray()))
                        .as(a + " gradient " + i)
                        .isLessThan(1e-12);
            }
        }
    }
}
