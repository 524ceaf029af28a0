package fulgur.testing;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import java.util.function.Function;

/**
 * Finite-difference gradient checks in f64: the analytic gradient of L = Σ f(inputs) ⊙ W (W random, fixed) is
 * compared with central differences of L, element by element.
 */
public final class GradCheck {
    private GradCheck() {}

    public static void check(Function<Tensor[], Tensor> f, Tensor... inputs) {
        check(f, 1e-6, 1e-6, inputs);
    }

    public static void check(Function<Tensor[], Tensor> f, double eps, double tol, Tensor... inputs) {
        for (Tensor t : inputs) {
            assertThat(t.dtype()).as("gradcheck inputs must be f64").isEqualTo(DType.F64);
            t.requiresGrad(true);
            t.zeroGrad();
        }
        Tensor out = f.apply(inputs);
        Tensor w = new Rng(99).normal(DType.F64, 0, 1, out.shape());
        Tensor loss = out.mul(w).sum();
        loss.backward();
        for (int k = 0; k < inputs.length; k++) {
            Tensor x = inputs[k];
            Tensor grad = x.grad();
            assertThat(grad).as("input %d received no gradient", k).isNotNull();
            double[] analytic = grad.toDoubleArray();
            for (long i = 0; i < x.numel(); i++) {
                double orig = x.getFlat(i);
                double lp;
                double lm;
                try (var g = GradMode.noGrad()) {
                    x.setFlat(i, orig + eps);
                    lp = f.apply(inputs).mul(w).sum().item();
                    x.setFlat(i, orig - eps);
                    lm = f.apply(inputs).mul(w).sum().item();
                    x.setFlat(i, orig);
                }
                double numeric = (lp - lm) / (2 * eps);
                double err = Math.abs(numeric - analytic[(int) i]);
                assertThat(err)
                        .as("gradient of input %d at %d: analytic %s vs numeric %s", k, i, analytic[(int) i], numeric)
                        .isLessThanOrEqualTo(tol * Math.max(1, Math.abs(numeric)));
            }
        }
    }

    /** Relative error ‖a − b‖ / max(‖b‖, tiny). */
    public static double relErr(double[] a, double[] b) {
        assertThat(a.length).isEqualTo(b.length);
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (a[i] - b[i]);
            den += b[i] * b[i];
        }
        return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
    }

    public static double relErr(float[] a, double[] b) {
        double[] d = new double[a.length];
        for (int i = 0; i < a.length; i++) {
            d[i] = a[i];
        }
        return relErr(d, b);
    }
}
