package fulgur.models;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.autograd.GradMode;
import fulgur.models.hf.ReferenceCheckpoint;
import fulgur.nn.Int8Weights;
import fulgur.nn.Linear;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Weight-only int8 for every architecture: every linear layer quantized, logits close to the f32 model's, and a
 * checkpoint round trip that keeps the weights int8 in memory and the logits bit for bit.
 */
class QuantizedModelTest {

    static Stream<Architecture> architectures() {
        return Architectures.all().stream();
    }

    @ParameterizedTest
    @MethodSource("architectures")
    void int8LinearLayersKeepTheLogitsCloseAndSurviveACheckpoint(Architecture a, @TempDir Path tmp) throws Exception {
        String json = a.smallConfig(64, 32, 2, 2);
        try (Scope s = Scope.open();
                LanguageModel m = a.build(json, 9);
                var g = GradMode.noGrad()) {
            m.module().train(false);
            Tensor ids = LmTestKit.randomIds(3, 2, 17, 64);
            double[] f32 = m.forward(ids).toDoubleArray();
            long before = bytes(m);
            var names = Int8Weights.quantizeLinears(m.module());
            assertThat(names).isNotEmpty();
            long linear = 0;
            for (var e : m.module().namedModules().entrySet()) {
                if (e.getValue() instanceof Linear l) {
                    assertThat(l.isInt8()).as(e.getKey()).isTrue();
                    linear += l.weight().numel();
                }
            }
            assertThat(bytes(m))
                    .as("each linear weight 1 byte instead of 4 (plus a scale per channel)")
                    .isLessThan(before - 2 * linear);
            double[] q = m.forward(ids).toDoubleArray();
            // each weight errs by at most half a step (0.4% of its channel's largest); through the layers the logits
            // move by a few tenths of a percent to about 2% on these models
            assertThat(GradCheck.relErr(q, f32))
                    .as("relative error of the logits")
                    .isLessThan(0.03);
            ReferenceCheckpoint.save(m, tmp.resolve("q"), null, 1L << 30);
            try (LanguageModel back = ReferenceCheckpoint.load(tmp.resolve("q"))) {
                back.module().train(false);
                for (var e : back.module().namedModules().entrySet()) {
                    if (e.getValue() instanceof Linear l) {
                        assertThat(l.weight().value().dtype()).as(e.getKey()).isEqualTo(DType.I8);
                    }
                }
                assertThat(back.forward(ids).toDoubleArray()).containsExactly(q);
            }
        }
    }

    private static long bytes(LanguageModel m) {
        long n = 0;
        for (var p : m.module().parameters()) {
            n += p.numel() * p.value().dtype().byteSize();
        }
        return n;
    }
}
