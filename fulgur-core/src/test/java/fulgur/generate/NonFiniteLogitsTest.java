package fulgur.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.nn.Parameter;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import fulgur.tokenizer.ByteTokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Sampling refuses logits it cannot draw from, instead of returning token 0 (a NUL byte) for ever. */
class NonFiniteLogitsTest {

    @Test
    void nanAndPositiveInfinityAreRefusedAtEveryTemperature() {
        for (double temperature : new double[] {0, 0.8}) {
            Sampler s = new Sampler(temperature, 0, 0.9, 1);
            assertThatThrownBy(() -> s.sample(new float[] {0.5f, Float.NaN, 1f}))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("the model's logits are not finite (NaN for token 1)");
            assertThatThrownBy(() -> s.sample(new float[] {Float.POSITIVE_INFINITY, 0f}))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("Infinity for token 0");
            float ninf = Float.NEGATIVE_INFINITY;
            assertThatThrownBy(() -> s.sample(new float[] {ninf, ninf}))
                    .hasMessageContaining("every one of the model's 2 logits is -Infinity");
            assertThat(s.sample(new float[] {ninf, 2f, ninf}))
                    .as("-Infinity masks a token")
                    .isEqualTo(1);
        }
    }

    @Test
    void aModelWhoseOutputsOverflowStopsGenerationWithAMessage() {
        try (Scope sc = Scope.open();
                TnlModel m = new TnlModel(TnlConfig.small(257, 16, 1, 2), 2)) {
            for (Parameter p : m.namedParameters().values()) {
                Tensor v = p.value();
                v.copyFrom(Tensor.full(DType.F32, 1e38, v.shape())); // finite weights, but their products overflow
            }
            assertThatThrownBy(() -> Generator.generate(
                            m,
                            ByteTokenizer.withEndOfText(),
                            "ab",
                            new Generator.Settings(5, 0.8, 0, 1.0, 1, List.of()),
                            null))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageStartingWith("after the prompt: the model's logits are not finite");
        }
    }
}
