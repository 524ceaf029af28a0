package fulgur.generate;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.models.tnl.TnlConfig;
import fulgur.models.tnl.TnlModel;
import fulgur.tensor.Scope;
import fulgur.tokenizer.ByteTokenizer;
import java.util.List;
import org.junit.jupiter.api.Test;

class GeneratorTest {

    @Test
    void greedyPicksTheLargestLogitAndTopKRestrictsTheChoice() {
        float[] logits = {0.1f, 3f, -1f, 2.9f, 0f};
        assertThat(new Sampler(0, 0, 1, 1).sample(logits)).isEqualTo(1);
        Sampler topTwo = new Sampler(1.0, 2, 1.0, 5);
        for (int i = 0; i < 200; i++) {
            assertThat(topTwo.sample(logits)).isIn(1, 3);
        }
        // top-p small enough keeps only the most likely token
        Sampler nucleus = new Sampler(1.0, 0, 0.3, 5);
        for (int i = 0; i < 50; i++) {
            assertThat(nucleus.sample(logits)).isEqualTo(1);
        }
    }

    @Test
    void samplingFollowsTheSoftmaxDistribution() {
        float[] logits = {0f, (float) Math.log(3)}; // p = 0.25, 0.75
        Sampler s = new Sampler(1.0, 0, 1.0, 11);
        int ones = 0;
        int n = 20000;
        for (int i = 0; i < n; i++) {
            ones += s.sample(logits);
        }
        assertThat((double) ones / n).isBetween(0.73, 0.77);
    }

    @Test
    void sameSeedSameTextAndStopStringsCut() {
        try (Scope sc = Scope.open();
                TnlModel m = new TnlModel(TnlConfig.small(257, 16, 1, 2), 2)) {
            ByteTokenizer tok = ByteTokenizer.withEndOfText();
            Generator.Settings settings = new Generator.Settings(40, 1.0, 0, 1.0, 9, List.of());
            Generator.Output a = Generator.generate(m, tok, "ab", settings, null);
            Generator.Output b = Generator.generate(m, tok, "ab", settings, null);
            assertThat(a.text()).isEqualTo(b.text());
            assertThat(a.tokens()).isLessThanOrEqualTo(40);
            if (a.text().length() > 3) {
                String stop = a.text().substring(2, 4);
                Generator.Output c = Generator.generate(
                        m, tok, "ab", new Generator.Settings(40, 1.0, 0, 1.0, 9, List.of(stop)), null);
                assertThat(c.stopReason()).isEqualTo("stop");
                assertThat(c.text())
                        .doesNotContain(stop)
                        .isEqualTo(a.text().substring(0, a.text().indexOf(stop)));
            }
            StringBuilder streamed = new StringBuilder();
            Generator.Output d = Generator.generate(m, tok, "ab", settings, streamed::append);
            assertThat(streamed.toString()).isEqualTo(d.text());
        }
    }

    @Test
    void badSettingsAreRejected() {
        assertThatThrownBy(() -> new Sampler(-1, 0, 1, 0)).hasMessageContaining("temperature");
        assertThatThrownBy(() -> new Sampler(1, -1, 1, 0)).hasMessageContaining("top-k");
        assertThatThrownBy(() -> new Sampler(1, 0, 0, 0)).hasMessageContaining("top-p");
        assertThatThrownBy(() -> new Generator.Settings(-1, 1, 0, 1, 0, null)).hasMessageContaining("max new tokens");
    }
}
