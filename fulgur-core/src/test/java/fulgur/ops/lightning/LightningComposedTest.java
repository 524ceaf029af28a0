package fulgur.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.backend.Kernels;
import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/**
 * The one fallback rule for lightning attention: on a device without {@link LightningKernels} the composed form (GLA
 * with the constant log-decay −slope) runs, and it gives the kernel's values and gradients.
 */
class LightningComposedTest {
    private static final double[] SLOPES = {0.3, 0.05, 1.2};

    private static Tensor[] inputs(long seed, DType dt, int b, int t, int n) {
        Rng rng = new Rng(seed);
        return new Tensor[] {
            rng.normal(dt, 0, 0.5, b, t, 3, 4),
            rng.normal(dt, 0, 0.5, b, t, 3, 4),
            rng.normal(dt, 0, 1, b, t, 3, 5),
            rng.normal(dt, 0, 1, n, 3, 4, 5)
        };
    }

    /** Output and final state flattened, and the gradients of a weighted sum of both, for q, k, v and the initial state. */
    private static double[][] run(Tensor[] x, int[] cu) {
        Tensor[] in = new Tensor[x.length];
        for (int i = 0; i < x.length; i++) {
            in[i] = x[i].copy().requiresGrad(true);
        }
        Lightning.Result r = Lightning.chunked(in[0], in[1], in[2], SLOPES, 0.7, in[3], true, 8, cu);
        Tensor wo = new Rng(99).normal(r.output().dtype(), 0, 1, r.output().shape());
        Tensor ws =
                new Rng(98).normal(r.finalState().dtype(), 0, 1, r.finalState().shape());
        Tensor loss = Elementwise.add(
                Reductions.sum(Elementwise.mul(r.output(), wo)), Reductions.sum(Elementwise.mul(r.finalState(), ws)));
        loss.backward();
        return new double[][] {
            r.output().toDoubleArray(),
            r.finalState().toDoubleArray(),
            in[0].grad().toDoubleArray(),
            in[1].grad().toDoubleArray(),
            in[2].grad().toDoubleArray(),
            in[3].grad().toDoubleArray()
        };
    }

    private static void assertSame(double[][] kernel, double[][] composed, double tol) {
        String[] what = {"output", "final state", "dq", "dk", "dv", "dInitialState"};
        for (int i = 0; i < kernel.length; i++) {
            assertThat(GradCheck.relErr(composed[i], kernel[i])).as(what[i]).isLessThan(tol);
        }
    }

    @Test
    void theComposedFormGivesTheKernelsValuesAndGradients() {
        for (DType dt : new DType[] {DType.F64, DType.F32}) {
            Tensor[] x = inputs(1, dt, 2, 37, 2);
            double[][] kernel = run(x, null);
            double[][] composed;
            try (var none = Kernels.use(LightningKernels.class, null)) {
                composed = run(x, null);
            }
            assertSame(kernel, composed, dt == DType.F64 ? 1e-12 : 2e-5);
        }
    }

    @Test
    void theComposedFormHandlesPackedSequences() {
        int[] cu = {0, 5, 5, 21, 30};
        Tensor[] x = inputs(2, DType.F64, 1, 30, 4);
        double[][] kernel = run(x, cu);
        double[][] composed;
        try (var none = Kernels.use(LightningKernels.class, null)) {
            composed = run(x, cu);
        }
        assertSame(kernel, composed, 1e-12);
    }

    @Test
    void theComposedDecodeAdvancesTheStateInPlaceAsTheKernelDoes() {
        Tensor[] x = inputs(3, DType.F32, 2, 3, 2);
        Tensor s1 = x[3].copy();
        Tensor s2 = x[3].copy();
        Tensor o1 = Lightning.recurrent(x[0], x[1], x[2], SLOPES, 0.5, s1);
        Tensor o2;
        try (var none = Kernels.use(LightningKernels.class, null)) {
            o2 = Lightning.recurrent(x[0], x[1], x[2], SLOPES, 0.5, s2);
        }
        assertThat(o2.dtype()).isEqualTo(o1.dtype());
        assertThat(GradCheck.relErr(o2.toDoubleArray(), o1.toDoubleArray())).isLessThan(2e-6);
        assertThat(GradCheck.relErr(s2.toDoubleArray(), s1.toDoubleArray())).isLessThan(2e-6);
        assertThat(GradCheck.relErr(s1.toDoubleArray(), x[3].toDoubleArray())).isGreaterThan(1e-3); // it did advance
    }
}
