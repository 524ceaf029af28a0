package fulgur.ops;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Backends;
import fulgur.backend.Kernels;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * {@link Norms#addRmsNorm}: the composed form is the sum and the norm of it, its gradients pass finite differences, and
 * a registered kernel (a stand-in computing the same values without autograd) is reached and gives the composed form's
 * values and gradients — the op records the sum's and the norm's backward around the kernel's forward.
 */
class ResidualNormTest {

    @Test
    void composedFormIsTheSumThenTheNormAndPassesFiniteDifferences() {
        Rng r = new Rng(3);
        Tensor x = r.normal(DType.F64, 0, 1, 3, 5),
                y = r.normal(DType.F64, 0, 1, 3, 5),
                w = r.normal(DType.F64, 1, 0.2, 5);
        Tensor[] got = Norms.addRmsNorm(x, y, w, 1e-6);
        Tensor sum = Elementwise.add(x, y);
        assertThat(got[0].toDoubleArray()).containsExactly(sum.toDoubleArray());
        assertThat(got[1].toDoubleArray())
                .containsExactly(Norms.rmsNorm(sum, w, 1e-6).toDoubleArray());
        GradCheck.check(
                t -> {
                    Tensor[] hn = Norms.addRmsNorm(t[0], t[1], t[2], 1e-6);
                    return Elementwise.add(hn[0], Elementwise.mul(hn[1], hn[1]));
                },
                x.copy(),
                y.copy(),
                w.copy());
    }

    /** The kernel's contract computed by the backend's own sum and norm, outside autograd. */
    static final class StandIn implements ResidualNormKernels {
        int calls;

        @Override
        public boolean supports(Tensor x, Tensor y, Tensor gain) {
            return true;
        }

        @Override
        public Tensor[] forward(Tensor x, Tensor y, Tensor gain, double eps) {
            calls++;
            Tensor h = Elementwise.add(x.detach(), y.detach());
            Tensor[] n = Backends.of(h).norm(h, gain == null ? null : gain.detach(), null, eps, true);
            return new Tensor[] {h, n[0], n[2]};
        }
    }

    @Test
    void aRegisteredKernelIsReachedAndGivesTheComposedValuesAndGradients() {
        Rng r = new Rng(4);
        Tensor x = r.normal(DType.F64, 0, 1, 2, 4, 6),
                y = r.normal(DType.F64, 0, 1, 2, 4, 6),
                w = r.normal(DType.F64, 1, 0.2, 6),
                dh = r.normal(DType.F64, 0, 1, 2, 4, 6),
                dn = r.normal(DType.F64, 0, 1, 2, 4, 6);
        for (boolean gain : new boolean[] {true, false}) {
            Tensor[][] in = new Tensor[2][];
            Tensor[][] out = new Tensor[2][];
            StandIn standIn = new StandIn();
            for (int k = 0; k < 2; k++) {
                in[k] = new Tensor[] {
                    x.copy().requiresGrad(true),
                    y.copy().requiresGrad(true),
                    gain ? w.copy().requiresGrad(true) : null
                };
                try (var use = Kernels.use(ResidualNormKernels.class, k == 0 ? null : standIn)) {
                    out[k] = Norms.addRmsNorm(in[k][0], in[k][1], in[k][2], 1e-5);
                    // the sum also feeds the norm's input gradient, as a block's residual stream does
                    Elementwise.add(
                                    Elementwise.mul(out[k][0], dh).sum(),
                                    Elementwise.mul(out[k][1], dn).sum())
                            .backward();
                }
            }
            assertThat(standIn.calls).isEqualTo(1);
            for (int i = 0; i < 2; i++) {
                assertThat(out[1][i].toDoubleArray()).containsExactly(out[0][i].toDoubleArray());
            }
            for (int i = 0; i < (gain ? 3 : 2); i++) {
                assertThat(in[1][i].grad().toDoubleArray())
                        .as("gain " + gain + ", gradient " + i)
                        .containsExactly(in[0][i].grad().toDoubleArray());
            }
        }
    }
}
