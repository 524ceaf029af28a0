package fulgur.ops.lightning;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.ops.Elementwise;
import fulgur.ops.Reductions;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link NormLinearAttention} (TNL's mixer after its fused projection) in f64 on the CPU: the output against a direct
 * evaluation of its definition, the gradients of qkvu and the gain against central differences, and the messages for
 * inputs of the wrong shape.
 */
class NormLinearAttentionTest {
    private static final int B = 2, T = 5, H = 2, D = 3, W = 4 * H * D;
    private static final double[] SLOPES = {0.3, 0.8};
    private static final double SCALE = 0.7, EPS = 1e-6;

    private static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    /** y[b][t][h·D + e] by the definition: o = Σ_{s≤t} λ^{t−s} (silu(q_t)·silu(k_s)) v_s, rmsNorm(o)·gain ⊙ u. */
    private static double[] reference(double[] x, double[] gain) {
        int hd = H * D;
        double[] y = new double[B * T * hd];
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                double[] o = new double[hd];
                for (int h = 0; h < H; h++) {
                    double lambda = Math.exp(-SLOPES[h]);
                    for (int s = 0; s <= t; s++) {
                        double dot = 0;
                        for (int e = 0; e < D; e++) {
                            dot += silu(x[(b * T + t) * W + h * D + e]) * silu(x[(b * T + s) * W + hd + h * D + e]);
                        }
                        double w = SCALE * Math.pow(lambda, t - s) * dot;
                        for (int e = 0; e < D; e++) o[h * D + e] += w * x[(b * T + s) * W + 2 * hd + h * D + e];
                    }
                }
                double ms = 0;
                for (double v : o) ms += v * v;
                double inv = 1 / Math.sqrt(ms / hd + EPS);
                for (int c = 0; c < hd; c++) {
                    double g = gain == null ? 1 : gain[c];
                    y[(b * T + t) * hd + c] = o[c] * inv * g * x[(b * T + t) * W + 3 * hd + c];
                }
            }
        }
        return y;
    }

    private static double[] random(long seed, int n, double lo, double hi) {
        SplittableRandom r = new SplittableRandom(seed);
        double[] a = new double[n];
        for (int i = 0; i < n; i++) a[i] = lo + (hi - lo) * r.nextDouble();
        return a;
    }

    private static double loss(double[] x, double[] gain, double[] w) {
        try (Scope s = Scope.open("nla-loss")) {
            Tensor y = NormLinearAttention.apply(
                    Tensor.of(x, B, T, W), H, SLOPES, SCALE, gain == null ? null : Tensor.of(gain, H * D), EPS);
            return Reductions.sum(Elementwise.mul(y, Tensor.of(w, B, T, H * D))).item();
        }
    }

    @Test
    void outputIsTheDefinition() {
        double[] x = random(1, B * T * W, -2, 2), gain = random(2, H * D, 0.5, 1.5);
        try (Scope s = Scope.open("nla")) {
            double[] y = NormLinearAttention.apply(Tensor.of(x, B, T, W), H, SLOPES, SCALE, Tensor.of(gain, H * D), EPS)
                    .toDoubleArray();
            double[] ref = reference(x, gain);
            for (int i = 0; i < y.length; i++) assertThat(y[i]).as("y[%d]", i).isCloseTo(ref[i], within(ref[i]));
        }
    }

    private static org.assertj.core.data.Offset<Double> within(double v) {
        return org.assertj.core.data.Offset.offset(1e-12 + 1e-10 * Math.abs(v));
    }

    @Test
    void gradientsMatchCentralDifferences() {
        double[] x = random(3, B * T * W, -2, 2),
                gain = random(4, H * D, 0.5, 1.5),
                w = random(5, B * T * H * D, -1, 1);
        double[] dx, dg;
        try (Scope s = Scope.open("nla-grad")) {
            Tensor xt = Tensor.of(x, B, T, W).requiresGrad(true),
                    gt = Tensor.of(gain, H * D).requiresGrad(true);
            Reductions.sum(Elementwise.mul(
                            NormLinearAttention.apply(xt, H, SLOPES, SCALE, gt, EPS), Tensor.of(w, B, T, H * D)))
                    .backward();
            dx = xt.grad().toDoubleArray();
            dg = gt.grad().toDoubleArray();
        }
        for (int i = 0; i < x.length; i += 7) { // every part of qkvu is visited: 7 is prime to W
            assertThat(dx[i]).as("d qkvu[%d]", i).isCloseTo(central(x, i, () -> loss(x, gain, w)), near());
        }
        for (int i = 0; i < gain.length; i++) {
            assertThat(dg[i]).as("d gain[%d]", i).isCloseTo(central(gain, i, () -> loss(x, gain, w)), near());
        }
    }

    /** (f(a + h·e_i) − f(a − h·e_i)) / 2h, a restored after. */
    private static double central(double[] a, int i, java.util.function.DoubleSupplier f) {
        double h = 1e-6, keep = a[i];
        a[i] = keep + h;
        double up = f.getAsDouble();
        a[i] = keep - h;
        double down = f.getAsDouble();
        a[i] = keep;
        return (up - down) / (2 * h);
    }

    private static org.assertj.core.data.Offset<Double> near() {
        return org.assertj.core.data.Offset.offset(1e-6);
    }

    @Test
    void wrongShapesAreNamed() {
        try (Scope s = Scope.open("nla-bad")) {
            assertThatThrownBy(() -> NormLinearAttention.apply(
                            Tensor.zeros(fulgur.tensor.DType.F64, 2, 5, 23), H, SLOPES, 1, null, EPS))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("normLinearAttention: qkvu f64[2, 5, 23]@cpu is not [B, T, 4·H·d] for 2 heads");
            assertThatThrownBy(() -> NormLinearAttention.apply(
                            Tensor.zeros(fulgur.tensor.DType.F64, 2, 5, W), H, new double[] {0.1}, 1, null, EPS))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("normLinearAttention: 1 slopes for 2 heads");
        }
    }
}
