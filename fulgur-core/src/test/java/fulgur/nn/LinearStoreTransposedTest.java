package fulgur.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import fulgur.autograd.GradMode;
import fulgur.models.Architecture;
import fulgur.models.Architectures;
import fulgur.models.LanguageModel;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** A weight kept transposed in memory: same values, same products (against f64), a model's logits unchanged. */
class LinearStoreTransposedTest {

    @Test
    void theWeightKeepsItsValuesAndProductsMatchF64() {
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            int in = 131, out = 77;
            Linear layer = new Linear(in, out, true, new Rng(3));
            double[] before = layer.weight().value().toDoubleArray();
            assertThat(layer.storeTransposed()).isTrue();
            Tensor w = layer.weight().value();
            assertThat(w.shape()).containsExactly(out, in);
            assertThat(w.isContiguous()).isFalse();
            assertThat(w.strides()).containsExactly(1, out);
            assertThat(w.toDoubleArray()).containsExactly(before);
            assertThat(layer.storeTransposed()).as("already stored so").isFalse();

            double[] b = layer.bias().value().toDoubleArray();
            // 1, a few and many rows: the GEMV, unpacked and packed paths
            for (int rows : new int[] {1, 5, 64, 300}) {
                Tensor x = new Rng(rows).normal(0, 1, rows, in);
                double[] xv = x.toDoubleArray();
                float[] y = layer.forward(x).toFloatArray();
                for (int r = 0; r < rows; r++) {
                    for (int o = 0; o < out; o++) {
                        double ref = b[o];
                        double mag = Math.abs(b[o]);
                        for (int i = 0; i < in; i++) {
                            ref += xv[r * in + i] * before[o * in + i];
                            mag += Math.abs(xv[r * in + i] * before[o * in + i]);
                        }
                        assertThat((double) y[r * out + o])
                                .as("rows %d, row %d, output %d", rows, r, o)
                                .isCloseTo(ref, within(mag * 1e-6));
                    }
                }
            }
        }
    }

    @Test
    void onlyFloatCpuWeightsMove() {
        try (Scope s = Scope.open()) {
            Linear f64 = new Linear(8, 4, false, new Rng(1), DType.F64);
            assertThat(f64.storeTransposed()).isFalse();
            assertThat(f64.weight().value().isContiguous()).isTrue();
            Linear int8 = new Linear(8, 4, false, new Rng(1));
            int8.quantizeInt8();
            assertThat(int8.storeTransposed()).isFalse();
        }
    }

    @Test
    void aModelWhoseLinearWeightsAreStoredTransposedGivesTheSameLogits() {
        Architecture tnl = Architectures.byName("tnl");
        try (LanguageModel m = tnl.build(tnl.smallConfig(257, 64, 2, 4), 5);
                Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            m.module().train(false);
            Tensor ids = Tensor.ofInts(new int[] {1, 7, 42, 200, 3, 9, 77, 255}, 2, 4);
            float[] before = m.forward(ids).toFloatArray();
            int moved = 0;
            for (Module mod : m.module().namedModules().values()) {
                if (mod instanceof Linear l && l.storeTransposed()) {
                    moved++;
                }
            }
            assertThat(moved).as("q/k/v/u, out and three GLU maps per layer").isEqualTo(2 * 5);
            float[] after = m.forward(ids).toFloatArray();
            assertThat(after).hasSameSizeAs(before);
            for (int i = 0; i < before.length; i++) {
                assertThat(after[i])
                        .as("logit %d", i)
                        .isCloseTo(before[i], within(1e-4f + Math.abs(before[i]) * 1e-5f));
            }
        }
    }
}
