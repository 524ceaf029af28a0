package fulgur.autograd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.Autograd.Free;
import fulgur.ops.Elementwise;
import fulgur.ops.Norms;
import fulgur.ops.Reductions;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** A backward may fold the gradient summed so far for an input into its own, and the engine then keeps its sum. */
class FoldingBackwardTest {

    private static Tensor leaf(DType dt, long seed, int... shape) {
        Rng r = new Rng(seed);
        int n = 1;
        for (int s : shape) n *= s;
        double[] v = new double[n];
        for (int i = 0; i < n; i++) v[i] = 2 * r.nextDouble() - 1;
        return Tensor.of(dt, v, shape).requiresGrad(true);
    }

    /** 2x as a recorded op whose backward folds x's partial gradient when it is offered. */
    private static Tensor doubled(Tensor x, boolean[] sawPartial) {
        Tensor out;
        try (GradMode.Guard ignored = GradMode.noGrad()) {
            out = Elementwise.mul(x, Tensor.scalar(x.dtype(), 2.0));
        }
        return Autograd.record("doubled", out, new Tensor[] {x}, (g, partial) -> {
            Tensor p = partial.take(0);
            sawPartial[0] = p != null;
            Tensor own = Elementwise.mul(g, Tensor.scalar(g.dtype(), 2.0));
            return new Tensor[] {p == null ? own : Elementwise.add(own, p)};
        });
    }

    @Test
    void aResidualSumIsFoldedIntoTheBackwardThatRunsAfterIt() {
        for (Free free : Free.values()) {
            Tensor x = leaf(DType.F64, 1, 3, 5);
            Tensor w = leaf(DType.F64, 2, 3, 5).requiresGrad(false);
            boolean[] saw = new boolean[1];
            try (Scope s = Scope.open("step")) {
                // x + 2x, then ⟨·, w⟩: the sum's backward gives x the gradient w first, the doubling's then folds it
                Tensor loss = Reductions.sum(Elementwise.mul(Elementwise.add(x, doubled(x, saw)), w));
                Autograd.backward(loss, null, null, free);
            }
            assertThat(saw[0]).as("partial offered (%s)", free).isTrue();
            double[] g = x.grad().toDoubleArray();
            double[] wv = w.toDoubleArray();
            for (int i = 0; i < g.length; i++) assertThat(g[i]).isEqualTo(3 * wv[i]);
        }
    }

    @Test
    void withoutAnEarlierContributionNothingIsOffered() {
        Tensor x = leaf(DType.F64, 3, 4);
        boolean[] saw = {true};
        Autograd.backward(Reductions.sum(doubled(x, saw)), null);
        assertThat(saw[0]).isFalse();
        assertThat(x.grad().toDoubleArray()).containsOnly(2.0);
    }

    @Test
    void calledOutsideTheEngineABackwardSeesNoPartials() {
        Node.FoldingBackward fb = (g, partial) -> new Tensor[] {partial.peek(0) == null ? g : null};
        Tensor g = Tensor.of(DType.F64, new double[] {1, 2}, 2);
        assertThat(fb.apply(g)[0]).isSameAs(g);
    }

    @Test
    void takingAPartialAndReturningNoGradientIsAnError() {
        Tensor x = leaf(DType.F64, 4, 4);
        Tensor out;
        try (GradMode.Guard ignored = GradMode.noGrad()) {
            out = Elementwise.mul(x, Tensor.scalar(DType.F64, 1.0));
        }
        Tensor y = Autograd.record("lossy", out, new Tensor[] {x}, (g, partial) -> {
            partial.take(0);
            return new Tensor[] {null};
        });
        Tensor w = leaf(DType.F64, 5, 4).requiresGrad(false); // a contiguous gradient for x (sum's own is expanded)
        Tensor loss = Reductions.sum(Elementwise.mul(Elementwise.add(x, y), w));
        assertThatThrownBy(() -> Autograd.backward(loss, null))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("lossy took input 0's partial gradient and returned none");
    }

    /**
     * A pre-norm residual block x + f(norm(x)): the norm's backward writes the residual gradient's sum (one rounding in
     * bf16); the gradient equals the one summed by the engine, to the dtype's precision.
     */
    @Test
    void normsFoldTheResidualStreamsGradient() {
        for (boolean rms : new boolean[] {true, false}) {
            for (DType dt : new DType[] {DType.F64, DType.F32, DType.BF16}) {
                Tensor x = leaf(dt, 5, 6, 32);
                Tensor gain = leaf(dt, 6, 32);
                Tensor w = leaf(dt, 7, 6, 32).requiresGrad(false);
                // folded: the residual add and the norm consume x in one graph
                Tensor y = rms ? Norms.rmsNorm(x, gain, 1e-5) : Norms.layerNorm(x, gain, null, 1e-5);
                Autograd.backward(Reductions.sum(Elementwise.mul(Elementwise.add(x, Elementwise.mul(y, y)), w)), null);
                double[] folded = x.grad().toDoubleArray();
                // reference: the norm's gradient alone (no partial to fold), plus w, summed in f64
                Tensor x2 = Tensor.of(dt, x.toDoubleArray(), 6, 32).requiresGrad(true);
                Tensor y2 = rms ? Norms.rmsNorm(x2, gain, 1e-5) : Norms.layerNorm(x2, gain, null, 1e-5);
                Autograd.backward(Reductions.sum(Elementwise.mul(Elementwise.mul(y2, y2), w)), null);
                double[] alone = x2.grad().toDoubleArray();
                double[] wv = w.toDoubleArray();
                double tol = dt == DType.F64 ? 1e-12 : dt == DType.F32 ? 1e-5 : 1.6e-2;
                for (int i = 0; i < folded.length; i++) {
                    double want = alone[i] + wv[i];
                    assertThat(Math.abs(folded[i] - want))
                            .as("%s %s at %d", rms ? "rmsNorm" : "layerNorm", dt, i)
                            .isLessThanOrEqualTo(tol * (1 + Math.abs(want)));
                }
            }
        }
    }
}
