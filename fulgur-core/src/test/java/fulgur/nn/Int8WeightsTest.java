package fulgur.nn;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.autograd.GradMode;
import fulgur.ops.LinearAlgebra;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** Per-channel int8 quantization: the round-trip error bound, and int8 products against an f64 reference. */
class Int8WeightsTest {

    @Test
    void roundTripErrorIsAtMostHalfAStepPerChannel() {
        try (Scope s = Scope.open()) {
            Rng rng = new Rng(1);
            Tensor w = rng.normal(0, 1, 37, 91);
            w.narrow(0, 3, 1).copyFrom(Tensor.zeros(1, 91)); // an all-zero channel
            w.narrow(0, 5, 1).copyFrom(w.narrow(0, 5, 1).mul(1e-3)); // a channel with a much smaller range
            Int8Weights.Quantized q = Int8Weights.quantize(w);
            assertThat(q.q().dtype()).isEqualTo(DType.I8);
            assertThat(q.q().shape()).containsExactly(37, 91);
            assertThat(q.scale().shape()).containsExactly(37);
            double[] wv = w.toDoubleArray();
            double[] qv = q.q().toDoubleArray();
            double[] sv = q.scale().toDoubleArray();
            double[] back = Int8Weights.dequantize(q.q(), q.scale()).toDoubleArray();
            for (int o = 0; o < 37; o++) {
                double max = 0;
                for (int i = 0; i < 91; i++) {
                    max = Math.max(max, Math.abs(wv[o * 91 + i]));
                }
                assertThat(sv[o])
                        .as("scale of channel %d", o)
                        .isCloseTo(max / 127, org.assertj.core.api.Assertions.within(max / 127 * 1e-6 + 1e-30));
                for (int i = 0; i < 91; i++) {
                    int k = o * 91 + i;
                    assertThat(Math.abs(qv[k])).isLessThanOrEqualTo(127);
                    // half a quantization step, plus the f32 rounding of the product
                    assertThat(Math.abs(back[k] - wv[k]))
                            .as("channel %d input %d", o, i)
                            .isLessThanOrEqualTo(sv[o] / 2 * (1 + 1e-6) + Math.abs(wv[k]) * 1e-7);
                }
            }
            assertThat(sv[3]).isZero();
            assertThat(q.q().narrow(0, 3, 1).toDoubleArray()).containsOnly(0.0);
            assertThat(q.q().narrow(0, 5, 1).toDoubleArray())
                    .contains(127.0)
                    .as("small channels use their own full range");
        }
    }

    @Test
    void int8ProductsMatchTheDequantizedProductInF64() {
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            Rng rng = new Rng(2);
            // tails everywhere: 515 is no multiple of a vector or a depth tile, 70 no multiple of a channel tile
            int k = 515, n = 70;
            Int8Weights.Quantized q = Int8Weights.quantize(rng.normal(0, 0.05, n, k));
            double[] w = Int8Weights.dequantize(q.q(), q.scale()).toDoubleArray();
            Tensor bias = rng.normal(0, 1, n);
            double[] b = bias.toDoubleArray();
            for (int m : new int[] {1, 3, 7, 8, 37}) { // few rows (widened tiles, dots) and many (widened tiles, GEMM)
                Tensor x = rng.normal(0, 1, m, k);
                double[] xv = x.toDoubleArray();
                double[] y = LinearAlgebra.linearInt8(x, q.q(), q.scale(), bias).toDoubleArray();
                double maxErr = 0;
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        double ref = b[j];
                        double mag = Math.abs(b[j]);
                        for (int c = 0; c < k; c++) {
                            ref += xv[i * k + c] * w[j * k + c];
                            mag += Math.abs(xv[i * k + c] * w[j * k + c]);
                        }
                        // f32 accumulation over k terms: a few ulps of the magnitude sum
                        maxErr = Math.max(maxErr, Math.abs(y[i * n + j] - ref) / mag);
                    }
                }
                assertThat(maxErr).as("%d rows", m).isLessThan(1e-5);
            }
            Tensor x3 = rng.normal(0, 1, 2, 3, k).to(DType.BF16);
            Tensor y3 = LinearAlgebra.linearInt8(x3, q.q(), q.scale(), null);
            assertThat(y3.shape()).containsExactly(2, 3, n);
            assertThat(y3.dtype()).isEqualTo(DType.BF16);
            assertThatThrownBy(() -> LinearAlgebra.linearInt8(rng.normal(0, 1, 2, k + 1), q.q(), q.scale(), null))
                    .hasMessageContaining("does not match int8 weight");
        }
    }

    @Test
    void theComposedFormWidensRowBlocksToTheSameProduct() {
        try (Scope s = Scope.open();
                var g = GradMode.noGrad()) {
            Rng rng = new Rng(4);
            int k = 77, n = 600; // more weight rows than one widened block
            Int8Weights.Quantized q = Int8Weights.quantize(rng.normal(0, 0.05, n, k));
            Tensor x = rng.normal(0, 1, 5, k);
            double[] kernel =
                    LinearAlgebra.linearInt8(x, q.q(), q.scale(), null).toDoubleArray();
            double[] composed;
            try (var none = fulgur.backend.Kernels.use(fulgur.ops.Int8MatmulKernels.class, null)) {
                composed = LinearAlgebra.linearInt8(x, q.q(), q.scale(), null).toDoubleArray();
            }
            assertThat(fulgur.testing.GradCheck.relErr(composed, kernel)).isLessThan(1e-6);
        }
    }

    @Test
    void aQuantizedLinearLayerIsInferenceOnly() {
        try (Scope s = Scope.open()) {
            Linear l = new Linear(16, 8, true, new Rng(3));
            Tensor x = new Rng(4).normal(0, 1, 5, 16);
            double[] before = l.forward(x).toDoubleArray();
            l.quantizeInt8();
            assertThat(l.isInt8()).isTrue();
            assertThat(l.weight().value().dtype()).isEqualTo(DType.I8);
            assertThat(l.namedParameters().keySet()).containsExactly("weight", "bias", "weight_scale");
            double[] after = l.forward(x).toDoubleArray();
            for (int i = 0; i < before.length; i++) {
                assertThat(after[i]).isCloseTo(before[i], org.assertj.core.api.Assertions.within(0.05));
            }
            Tensor xg = x.detach().requiresGrad(true);
            Tensor y = l.forward(xg).sum();
            assertThatThrownBy(y::backward).hasMessageContaining("inference only");
        }
    }
}
