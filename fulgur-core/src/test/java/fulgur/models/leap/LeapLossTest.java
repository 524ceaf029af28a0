package fulgur.models.leap;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import fulgur.avvp.EventGrid;
import fulgur.tensor.DType;
import fulgur.tensor.Rng;
import fulgur.tensor.Tensor;
import fulgur.testing.GradCheck;
import fulgur.testing.ScopedTest;
import org.junit.jupiter.api.Test;

class LeapLossTest extends ScopedTest {

    /** Audio events per segment {0}, {0,1}, {}; visual {0}, {1}, {0,1,2}. */
    private static EventGrid[] sets() {
        EventGrid a = new EventGrid(3, 3);
        a.set(0, 0, true);
        a.set(1, 0, true);
        a.set(1, 1, true);
        EventGrid v = new EventGrid(3, 3);
        v.set(0, 0, true);
        v.set(1, 1, true);
        v.set(2, 0, true);
        v.set(2, 1, true);
        v.set(2, 2, true);
        return new EventGrid[] {a, v};
    }

    @Test
    void eiouIsIntersectionOverUnionOfTheEventSets() {
        EventGrid[] g = sets();
        assertThat(AvssTarget.eiou(g[0], g[1]))
                .containsExactly(new float[] {1, 0, 1f / 3, 0.5f, 0.5f, 2f / 3, 0, 0, 0}, within(1e-7f));
    }

    @Test
    void theReleasedCodeDividesByTheLargestEventCountOfTheVideo() {
        EventGrid[] g = sets();
        // max_t |E^a_t| = 2, max_t |E^v_t| = 3
        assertThat(AvssTarget.maxCount(g[0], g[1]))
                .containsExactly(new float[] {1f / 3, 0, 1f / 3, 1f / 3, 1f / 3, 2f / 3, 0, 0, 0}, within(1e-7f));
        assertThat(AvssTarget.maxCount(new EventGrid(3, 3), new EventGrid(3, 3)))
                .containsOnly(0f);
        // sigmoid(log r) + eps = r / (1 + r) + eps; r = 0 gives eps
        assertThat(AvssTarget.squash(new float[] {1, 0, 1f / 3, 0.5f, 2f / 3}, 0.01))
                .containsExactly(new float[] {0.51f, 0.01f, 0.26f, 1f / 3 + 0.01f, 0.41f}, within(1e-6f));
        LeapConfig code =
                LeapConfig.parse("{\"avss_target\": \"max_count\", \"avss_squash\": true, \"avss_eps\": 0.01}");
        assertThat(AvssTarget.of(g[0], g[1], code)[5]).isCloseTo(0.41f, within(1e-6f));
        assertThat(AvssTarget.of(g[0], g[1], LeapConfig.defaults())[5]).isCloseTo(2f / 3, within(1e-7f));
    }

    @Test
    void avssIsTheMeanSquaredErrorOfTheRectifiedCosinesAgainstTheTarget() {
        Tensor fa = Tensor.of(new double[] {1, 0, 0, 2}, 1, 2, 2);
        Tensor fv = Tensor.of(new double[] {3, 0, -1, 1}, 1, 2, 2);
        // cosines [[1, -1/√2], [0, 1/√2]], rectified [[1, 0], [0, 1/√2]]
        assertThat(LeapLoss.cosine(fa, fv).toDoubleArray())
                .containsExactly(new double[] {1, -Math.sqrt(0.5), 0, Math.sqrt(0.5)}, within(1e-12));
        Tensor r = Tensor.of(new double[] {1, 0, 0.5, 0.5}, 1, 2, 2);
        double expected = (0 + 0 + 0.25 + Math.pow(Math.sqrt(0.5) - 0.5, 2)) / 4;
        assertThat(LeapLoss.avss(fa, fv, r).item()).isCloseTo(expected, within(1e-12));
    }

    @Test
    void binaryCrossEntropiesMatchHandValues() {
        Tensor x = Tensor.of(new double[] {0, 2}, 2);
        Tensor y = Tensor.of(new double[] {1, 0}, 2);
        assertThat(LeapLoss.bceWithLogits(x, y).item())
                .isCloseTo((Math.log(2) + Math.log(1 + Math.exp(2))) / 2, within(1e-12));
        // p = 1 − (1 − ½)(1 − ½) = ¾: −log ¾ for a positive, −log ¼ for a negative
        Tensor zero = Tensor.of(new double[] {0, 0}, 2);
        assertThat(LeapLoss.noisyOrBce(zero, zero, y).item())
                .isCloseTo((-Math.log(0.75) - Math.log(0.25)) / 2, within(1e-12));
        // a confident modality makes the video positive whatever the other says
        Tensor sure = Tensor.of(new double[] {30}, 1);
        Tensor never = Tensor.of(new double[] {-30}, 1);
        assertThat(LeapLoss.noisyOrBce(sure, never, Tensor.of(new double[] {1}, 1))
                        .item())
                .isLessThan(1e-9);
        assertThat(LeapLoss.noisyOrBce(sure, never, Tensor.of(new double[] {0}, 1))
                        .item())
                .isCloseTo(30, within(1e-6));
    }

    @Test
    void lossGradientsMatchFiniteDifferencesInF64() {
        Rng rng = new Rng(5);
        Tensor logits = rng.normal(DType.F64, 0, 2, 3, 4);
        Tensor other = rng.normal(DType.F64, 0, 2, 3, 4);
        Tensor targets = rng.uniform(DType.F64, 0, 1, 3, 4);
        GradCheck.check(in -> LeapLoss.bceWithLogits(in[0], targets), logits);
        GradCheck.check(in -> LeapLoss.noisyOrBce(in[0], in[1], targets), 1e-6, 1e-5, logits, other);
        Tensor fa = rng.normal(DType.F64, 0, 1, 2, 3, 5);
        Tensor fv = rng.normal(DType.F64, 0, 1, 2, 3, 5);
        Tensor r = rng.uniform(DType.F64, 0, 1, 2, 3, 3);
        GradCheck.check(in -> LeapLoss.cosine(in[0], in[1]), fa, fv);
        GradCheck.check(in -> LeapLoss.avss(in[0], in[1], r), fa, fv);
    }
}
