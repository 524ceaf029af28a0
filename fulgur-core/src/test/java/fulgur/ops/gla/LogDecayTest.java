package fulgur.ops.gla;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Kernels;
import fulgur.ops.Activations;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * {@link LogDecay#gate}: values against the definition, gradients by finite differences (f and the lower bound), the
 * decay kept in f32 for bf16 gates, and a registered kernel (here a stand-in written with the CUDA kernel's backward
 * formulas) reached through the registry, its gradients routed through the two outputs' nodes and equal to the composed
 * form's.
 */
class LogDecayTest {

    @Test
    void valuesFollowTheDefinition() {
        Rng r = new Rng(1);
        Tensor f = r.normal(DType.F64, 0, 3, 4, 5);
        Tensor beta = r.uniform(DType.F64, 0, 0.95, 5);
        for (double tau : new double[] {1, 16}) {
            Tensor[] gk = LogDecay.gate(f, beta, tau);
            Tensor[] plain = LogDecay.gate(f, null, tau);
            for (int i = 0; i < 4; i++) {
                for (int c = 0; c < 5; c++) {
                    double s = 1 / (1 + Math.exp(-f.get(i, c))), b = beta.get(c);
                    double g = Math.log(b + (1 - b) * s) / tau;
                    assertThat(gk[0].get(i, c)).isCloseTo(g, org.assertj.core.data.Offset.offset(1e-14));
                    assertThat(gk[1].get(i, c)).isCloseTo(1 - Math.exp(g), org.assertj.core.data.Offset.offset(1e-14));
                    assertThat(plain[0].get(i, c))
                            .isCloseTo(Math.log(s) / tau, org.assertj.core.data.Offset.offset(1e-14));
                }
            }
        }
    }

    @Test
    void gradientsReachTheGateAndTheLowerBound() {
        Rng r = new Rng(2);
        Tensor f = r.normal(DType.F64, 0, 2, 3, 4);
        Tensor beta = r.uniform(DType.F64, 0.05, 0.9, 4);
        GradCheck.check(
                t -> {
                    Tensor[] gk = LogDecay.gate(t[0], t[1], 3.0);
                    return Elementwise.add(gk[0], Elementwise.mulScalar(gk[1], 0.7));
                },
                f,
                beta);
    }

    @Test
    void aBf16GateKeepsItsDecayInF32() {
        Tensor f = new Rng(3).normal(DType.F32, 4, 1, 2, 8).to(DType.BF16);
        Tensor[] gk = LogDecay.gate(f, Tensor.full(DType.F32, fulgur.tensor.Device.CPU, 0.9, 8), 1.0);
        assertThat(gk[0].dtype()).isEqualTo(DType.F32);
        assertThat(gk[1].dtype()).isEqualTo(DType.BF16);
        // near-one decays: β + (1−β)σ(f) ≈ 0.998, a bf16 log would be 0
        for (double g : gk[0].toDoubleArray()) {
            assertThat(g).isLessThan(-1e-5).isGreaterThan(-0.05);
        }
    }

    /** The CUDA kernel's forward and backward written with elementwise ops (f64), as a registered kernel. */
    static final class StandIn implements LogDecayKernels {
        final int[] calls = new int[2];

        @Override
        public Tensor[] forward(Tensor f, Tensor beta, double tau) {
            calls[0]++;
            try (var none = Kernels.use(LogDecayKernels.class, null)) {
                Tensor[] gk = LogDecay.gate(f.detach(), beta == null ? null : beta.detach(), tau);
                return new Tensor[] {gk[0].detach(), gk[1].detach()};
            }
        }

        @Override
        public Tensor[] backward(Tensor f, Tensor beta, double tau, Tensor dg, Tensor dk) {
            calls[1]++;
            Tensor x = f.detach();
            Tensor ls = Activations.logSigmoid(x);
            Tensor l = ls;
            Tensor wc = null;
            Tensor eb = null;
            if (beta != null) {
                Tensor a = Elementwise.log(beta);
                Tensor cc = Elementwise.add(Elementwise.log(Elementwise.addScalar(Elementwise.neg(beta), 1)), ls);
                l = Elementwise.add(
                        Elementwise.maximum(a, cc),
                        Elementwise.log(Elementwise.addScalar(
                                Elementwise.exp(Elementwise.neg(Elementwise.abs(Elementwise.sub(a, cc)))), 1)));
                wc = Elementwise.exp(Elementwise.sub(cc, l));
                eb = Elementwise.exp(Elementwise.neg(l));
            }
            Tensor g = Elementwise.mulScalar(l, 1 / tau);
            Tensor u = dg != null ? dg : Tensor.zeros(DType.F64, x.device(), x.shape());
            if (dk != null) {
                u = Elementwise.sub(u, Elementwise.mul(Elementwise.exp(g), dk));
            }
            u = Elementwise.mulScalar(u, 1 / tau);
            Tensor sn = Elementwise.exp(Activations.logSigmoid(Elementwise.neg(x)));
            Tensor df = Elementwise.mul(u, sn);
            if (beta == null) {
                return new Tensor[] {df, null};
            }
            return new Tensor[] {
                Elementwise.mul(df, wc),
                Reductions.sum(Elementwise.mul(Elementwise.mul(u, sn), eb), new int[] {0}, false)
            };
        }
    }

    @Test
    void aRegisteredKernelIsReachedAndItsBackwardEqualsTheComposedOne() {
        Rng r = new Rng(4);
        Tensor f = r.normal(DType.F64, 0, 3, 5, 6);
        Tensor beta = r.uniform(DType.F64, 0.0, 0.9, 6);
        Tensor wg = r.normal(DType.F64, 0, 1, 5, 6), wk = r.normal(DType.F64, 0, 1, 5, 6);
        for (Tensor b : new Tensor[] {beta, null}) {
            Tensor f1 = f.copy().requiresGrad(true),
                    b1 = b == null ? null : b.copy().requiresGrad(true);
            Tensor[] c = LogDecay.gate(f1, b1, 4.0);
            Elementwise.add(Reductions.sum(Elementwise.mul(c[0], wg)), Reductions.sum(Elementwise.mul(c[1], wk)))
                    .backward();
            StandIn standIn = new StandIn();
            Tensor f2 = f.copy().requiresGrad(true),
                    b2 = b == null ? null : b.copy().requiresGrad(true);
            try (var use = Kernels.use(LogDecayKernels.class, standIn)) {
                Tensor[] k = LogDecay.gate(f2, b2, 4.0);
                assertThat(GradCheck.relErr(k[0].toDoubleArray(), c[0].toDoubleArray()))
                        .isLessThan(1e-14);
                assertThat(GradCheck.relErr(k[1].toDoubleArray(), c[1].toDoubleArray()))
                        .isLessThan(1e-14);
                Elementwise.add(Reductions.sum(Elementwise.mul(k[0], wg)), Reductions.sum(Elementwise.mul(k[1], wk)))
                        .backward();
            }
            assertThat(standIn.calls).containsExactly(1, 2); // one forward, one backward per output
            assertThat(GradCheck.relErr(f2.grad().toDoubleArray(), f1.grad().toDoubleArray()))
                    .as("df")
                    .isLessThan(1e-12);
            if (b != null) {
                assertThat(GradCheck.relErr(b2.grad().toDoubleArray(), b1.grad().toDoubleArray()))
                        .as("dbeta")
                        .isLessThan(1e-12);
            }
        }
    }
}
