package fulgur.models.tnl;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import org.junit.jupiter.api.Test;

/** LRPE at positions far past what f32 counts exactly, against the encoding computed in f64 from the exact positions. */
class LrpeLongPositionTest {

    @Test
    void encodingAtPositionsNearTwoToTheThirtyOneIsExact() {
        int heads = 2, dim = 8, t = 5;
        try (Scope s = Scope.open()) {
            Lrpe lrpe = new Lrpe(heads, dim);
            Tensor x = new Rng(3).normal(0, 1, 1, t, heads, dim);
            double[] theta = lrpe.namedParameters().get("theta").value().toDoubleArray();
            for (long offset : new long[] {0, 1L << 24, Integer.MAX_VALUE - t, (1L << 33) + 3}) {
                double[] got = lrpe.forward(x, new long[] {offset}).toDoubleArray();
                assertThat(GradCheck.relErr(got, reference(x.toDoubleArray(), theta, offset, t, heads, dim)))
                        .as("offset " + offset)
                        .isLessThan(1e-6);
            }
        }
    }

    @Test
    void rowsAtTheirOwnLongPositionsMatchOneRowAtATime() {
        int heads = 2, dim = 4, t = 3;
        try (Scope s = Scope.open()) {
            Lrpe lrpe = new Lrpe(heads, dim);
            Tensor x = new Rng(5).normal(0, 1, 2, t, heads, dim);
            double[] theta = lrpe.namedParameters().get("theta").value().toDoubleArray();
            long[] offsets = {Integer.MAX_VALUE - t, 17};
            double[] got = lrpe.forward(x, offsets).toDoubleArray();
            double[] all = x.toDoubleArray();
            int row = t * heads * dim;
            for (int r = 0; r < 2; r++) {
                double[] xr = java.util.Arrays.copyOfRange(all, r * row, (r + 1) * row);
                double[] gr = java.util.Arrays.copyOfRange(got, 2 * r * row, 2 * (r + 1) * row);
                assertThat(GradCheck.relErr(gr, reference(xr, theta, offsets[r], t, heads, dim)))
                        .as("row " + r)
                        .isLessThan(1e-6);
            }
        }
    }

    /** [x⊙cos(pθ), x⊙sin(pθ)] per position p = offset + i, in f64. */
    static double[] reference(double[] x, double[] theta, long offset, int t, int heads, int dim) {
        double[] out = new double[2 * x.length];
        for (int i = 0; i < t; i++) {
            for (int h = 0; h < heads; h++) {
                for (int d = 0; d < dim; d++) {
                    double a = (double) (offset + i) * theta[h * dim + d];
                    double v = x[(i * heads + h) * dim + d];
                    int o = (i * heads + h) * 2 * dim;
                    out[o + d] = v * Math.cos(a);
                    out[o + dim + d] = v * Math.sin(a);
                }
            }
        }
        return out;
    }
}
