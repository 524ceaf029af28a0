package fulgur.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MqarTest {

    private static final Mqar.Config ZOOLOGY = Mqar.Config.of(8192, 256, 16);

    /** Checks every structural promise of one example (row b). */
    private static void assertWellFormed(Mqar.Config c, Batch batch, int b) {
        int v = c.vocabSize();
        int n = c.numKvPairs();
        int ctx = c.contextLength();
        Map<Integer, Integer> valueOf = new HashMap<>();
        Set<Integer> values = new HashSet<>();
        for (int i = 0; i < n; i++) {
            int k = batch.input(b, 2 * i);
            int val = batch.input(b, 2 * i + 1);
            assertThat(k).isBetween(1, v / 2 - 1);
            assertThat(val).isBetween(v / 2, v - 1);
            assertThat(valueOf.put(k, val)).as("key %d appears twice", k).isNull();
            assertThat(values.add(val)).as("value %d appears twice", val).isTrue();
        }
        for (int p = 1; p < c.numPasses(); p++) {
            for (int i = 0; i < 2 * n; i++) {
                assertThat(batch.input(b, p * 2 * n + i)).isEqualTo(batch.input(b, i));
            }
        }
        int queries = 0;
        Set<Integer> queriedKeys = new HashSet<>();
        for (int t = 0; t < c.seqLen(); t++) {
            int target = batch.target(b, t);
            if (target == Batch.IGNORE_INDEX) {
                continue;
            }
            queries++;
            assertThat(t).isGreaterThanOrEqualTo(ctx);
            assertThat((t - ctx) % 2).isZero();
            int key = batch.input(b, t);
            assertThat(valueOf).containsKey(key);
            // the target is the value paired with this key earlier in the sequence
            assertThat(target).isEqualTo(valueOf.get(key));
            assertThat(queriedKeys.add(key)).isTrue();
        }
        assertThat(queries).isEqualTo(c.numQueries());
        for (int t = 0; t < c.seqLen(); t++) {
            assertThat(batch.input(b, t)).isBetween(0, v - 1);
        }
    }

    @Test
    void examplesHaveTheZoologyStructure() {
        Mqar m = new Mqar(ZOOLOGY);
        Batch batch = m.batch(0, 0, 64);
        assertThat(batch.batch()).isEqualTo(64);
        assertThat(batch.seqLen()).isEqualTo(256);
        assertThat(batch.inputs()).hasSize(64 * 256);
        for (int b = 0; b < 64; b++) {
            assertWellFormed(ZOOLOGY, batch, b);
        }
        assertThat(batch.targetCount()).isEqualTo(64 * 16);
    }

    @Test
    void zeroFillerQueriesSubsetsAndRepeatedPasses() {
        Mqar.Config zero = Mqar.Config.of(64, 40, 4).withRandomNonQueries(false);
        Batch z = new Mqar(zero).generate(3, 0, 20);
        for (int b = 0; b < 20; b++) {
            assertWellFormed(zero, z, b);
            for (int t = zero.contextLength(); t < 40; t++) {
                if (z.target(b, t) == Batch.IGNORE_INDEX) {
                    assertThat(z.input(b, t)).isZero();
                }
            }
        }
        Mqar.Config subset = Mqar.Config.of(100, 64, 8).withNumQueries(3);
        Batch s = new Mqar(subset).generate(4, 0, 30);
        for (int b = 0; b < 30; b++) {
            assertWellFormed(subset, s, b);
        }
        Mqar.Config passes = Mqar.Config.of(100, 64, 6).withNumPasses(2);
        Batch p = new Mqar(passes).generate(5, 0, 10);
        for (int b = 0; b < 10; b++) {
            assertWellFormed(passes, p, b);
        }
    }

    @Test
    void tightestConfigurationFitsExactly() {
        // context 8 + 4 queries x 2 = 16 = seqLen: every gap is used, queries at 8, 10, 12, 14
        Mqar.Config c = Mqar.Config.of(20, 16, 4).withRandomNonQueries(false);
        Batch b = new Mqar(c).generate(9, 0, 5);
        for (int r = 0; r < 5; r++) {
            assertWellFormed(c, b, r);
            for (int t = 8; t < 16; t += 2) {
                assertThat(b.target(r, t)).isNotEqualTo(Batch.IGNORE_INDEX);
            }
        }
    }

    @Test
    void deterministicFromSeedAndExampleIndex() {
        Mqar m = new Mqar(ZOOLOGY);
        assertThat(m.batch(7, 3, 8)).isEqualTo(m.batch(7, 3, 8));
        assertThat(m.batch(7, 3, 8)).isNotEqualTo(m.batch(8, 3, 8));
        assertThat(m.batch(7, 3, 8)).isNotEqualTo(m.batch(7, 4, 8));
        // example i is the same whichever batch it falls in
        Batch whole = m.generate(7, 0, 10);
        Batch part = m.generate(7, 4, 3);
        int t = ZOOLOGY.seqLen();
        assertThat(part.inputs()).containsExactly(Arrays.copyOfRange(whole.inputs(), 4 * t, 7 * t));
        assertThat(part.targets()).containsExactly(Arrays.copyOfRange(whole.targets(), 4 * t, 7 * t));
        assertThat(m.batch(7, 2, 2)).isEqualTo(m.generate(7, 4, 2));
    }

    @Test
    void powerLawPlacesQueriesCloseToTheContext() {
        Mqar.Config steep = Mqar.Config.of(8192, 512, 8).withPowerA(0.01);
        Mqar.Config uniform = steep.withPowerA(1.0);
        double steepMean = meanQueryOffset(new Mqar(steep).generate(1, 0, 200), steep);
        double uniformMean = meanQueryOffset(new Mqar(uniform).generate(1, 0, 200), uniform);
        // uniform gaps over [0, 248) average about 124 gap units (248 positions); the power law far less
        assertThat(uniformMean).isBetween(200.0, 300.0);
        assertThat(steepMean).isLessThan(uniformMean / 2);
    }

    private static double meanQueryOffset(Batch b, Mqar.Config c) {
        long sum = 0;
        long count = 0;
        for (int r = 0; r < b.batch(); r++) {
            for (int t = 0; t < c.seqLen(); t++) {
                if (b.target(r, t) != Batch.IGNORE_INDEX) {
                    sum += t - c.contextLength();
                    count++;
                }
            }
        }
        return (double) sum / count;
    }

    @Test
    void accuracyCountsOnlyPositionsWithTargets() {
        Mqar.Config c = Mqar.Config.of(64, 32, 4);
        Batch b = new Mqar(c).generate(2, 0, 4);
        int[] perfect = b.targets().clone();
        for (int i = 0; i < perfect.length; i++) {
            if (perfect[i] == Batch.IGNORE_INDEX) {
                perfect[i] = 0; // whatever is predicted where nothing is asked does not count
            }
        }
        assertThat(Mqar.accuracy(b, perfect)).isEqualTo(1.0);
        int[] half = perfect.clone();
        int flipped = 0;
        for (int i = 0; i < half.length && flipped < 8; i++) {
            if (b.targets()[i] != Batch.IGNORE_INDEX) {
                half[i] = b.targets()[i] == 1 ? 2 : 1;
                flipped++;
            }
        }
        assertThat(Mqar.accuracy(b, half)).isEqualTo(0.5);
        float[] logits = new float[perfect.length * 64];
        for (int i = 0; i < perfect.length; i++) {
            logits[i * 64 + perfect[i]] = 3f;
        }
        assertThat(Mqar.accuracy(b, logits, 64)).isEqualTo(1.0);
        assertThatThrownBy(() -> Mqar.accuracy(b, new int[3]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected batch x seqLen");
    }

    @Test
    void badConfigurationsAreRejectedWithTheReason() {
        assertThatThrownBy(() -> Mqar.Config.of(8192, 64, 32))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("seqLen 64 is too short")
                .hasMessageContaining("128 in all");
        assertThatThrownBy(() -> Mqar.Config.of(20, 256, 16))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("vocabSize 20 is too small")
                .hasMessageContaining("need vocabSize >= 34");
        assertThatThrownBy(() -> Mqar.Config.of(8192, 256, 8).withNumQueries(9))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("numQueries must be in [1, numKvPairs=8]");
        assertThatThrownBy(() -> Mqar.Config.of(8192, 256, 8).withPowerA(0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("powerA");
        assertThatThrownBy(() -> Mqar.Config.of(8192, 256, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("numKvPairs");
        assertThatThrownBy(() -> new Mqar(ZOOLOGY).generate(0, 0, 0)).isInstanceOf(IllegalArgumentException.class);
    }
}
