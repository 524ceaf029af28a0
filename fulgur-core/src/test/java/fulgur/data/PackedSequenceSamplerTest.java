package fulgur.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class PackedSequenceSamplerTest {

    /** Token i is i, so every window reveals where it starts. */
    private static final TokenStream IOTA =
            TokenStream.of(IntStream.range(0, 1000).toArray());

    private static void assertWindows(Batch b, boolean consecutiveRows, int stride) {
        int t = b.seqLen();
        for (int r = 0; r < b.batch(); r++) {
            int start = b.input(r, 0);
            for (int i = 0; i < t; i++) {
                assertThat(b.input(r, i)).isEqualTo(start + i);
                assertThat(b.target(r, i)).isEqualTo(start + i + 1);
            }
            if (consecutiveRows && r > 0) {
                assertThat(start).isEqualTo(b.input(r - 1, 0) + stride);
            }
        }
    }

    @Test
    void randomWindowsAreDeterministicFromTheSeed() {
        PackedSequenceSampler a = PackedSequenceSampler.random(IOTA, 4, 16, 42);
        PackedSequenceSampler b = PackedSequenceSampler.random(IOTA, 4, 16, 42);
        PackedSequenceSampler c = PackedSequenceSampler.random(IOTA, 4, 16, 43);
        boolean differs = false;
        for (int i = 0; i < 20; i++) {
            Batch x = a.next();
            assertThat(b.next()).isEqualTo(x);
            differs |= !c.next().equals(x);
            assertWindows(x, false, 0);
            for (int v : x.targets()) {
                assertThat(v).isLessThan(1000);
            }
        }
        assertThat(differs).isTrue();
        assertThat(a.step()).isEqualTo(20);
    }

    @Test
    void sequentialWindowsTileTheStreamAndWrap() {
        // 1000 tokens, 3 x 10 per step: 33 steps per epoch ((1000 - 1) / 30)
        PackedSequenceSampler s = PackedSequenceSampler.sequential(IOTA, 3, 10);
        Batch first = s.next();
        assertWindows(first, true, 10);
        assertThat(first.input(0, 0)).isZero();
        assertThat(s.next().input(0, 0)).isEqualTo(30);
        for (int i = 2; i < 33; i++) {
            Batch b = s.next();
            assertThat(b.input(0, 0)).isEqualTo(30 * i);
            assertWindows(b, true, 10);
        }
        assertThat(s.epoch()).isEqualTo(1);
        assertThat(s.next()).isEqualTo(first);
    }

    @Test
    void ranksGetDisjointSequentialChunksAndIndependentRandomWindows() {
        int world = 3;
        Set<Integer> starts = new HashSet<>();
        for (int rank = 0; rank < world; rank++) {
            PackedSequenceSampler s =
                    PackedSequenceSampler.create(IOTA, PackedSequenceSampler.Mode.SEQUENTIAL, 2, 8, 0, rank, world);
            for (int step = 0; step < 5; step++) {
                Batch b = s.next();
                assertWindows(b, true, 8);
                for (int r = 0; r < 2; r++) {
                    assertThat(starts.add(b.input(r, 0)))
                            .as("window start %d used twice", b.input(r, 0))
                            .isTrue();
                }
            }
        }
        assertThat(starts).hasSize(world * 5 * 2);
        Batch r0 = PackedSequenceSampler.create(IOTA, PackedSequenceSampler.Mode.RANDOM, 2, 8, 7, 0, 2)
                .next();
        Batch r1 = PackedSequenceSampler.create(IOTA, PackedSequenceSampler.Mode.RANDOM, 2, 8, 7, 1, 2)
                .next();
        assertThat(r0).isNotEqualTo(r1);
    }

    @Test
    void aResumedRunYieldsExactlyTheBatchesOfAnUninterruptedOne() {
        for (PackedSequenceSampler.Mode mode : PackedSequenceSampler.Mode.values()) {
            PackedSequenceSampler uninterrupted = PackedSequenceSampler.create(IOTA, mode, 4, 12, 1234, 1, 2);
            List<Batch> expected = new ArrayList<>();
            for (int i = 0; i < 50; i++) {
                expected.add(uninterrupted.next());
            }
            PackedSequenceSampler first = PackedSequenceSampler.create(IOTA, mode, 4, 12, 1234, 1, 2);
            List<Batch> got = new ArrayList<>();
            for (int i = 0; i < 17; i++) {
                got.add(first.next());
            }
            String saved = first.state().toJson();
            assertThat(saved).contains("\"step\" : 17").contains("\"seed\" : 1234");
            PackedSequenceSampler resumed =
                    PackedSequenceSampler.restore(IOTA, PackedSequenceSampler.State.fromJson(saved));
            assertThat(resumed.state()).isEqualTo(first.state());
            for (int i = 17; i < 50; i++) {
                got.add(resumed.next());
            }
            assertThat(got).as("mode %s", mode).containsExactlyElementsOf(expected);
        }
    }

    @Test
    void restoringOnOtherDataOrBadStatesFails() {
        PackedSequenceSampler s = PackedSequenceSampler.random(IOTA, 2, 8, 1);
        s.next();
        PackedSequenceSampler.State st = s.state();
        TokenStream other = TokenStream.of(new int[999]);
        assertThatThrownBy(() -> PackedSequenceSampler.restore(other, st))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("1000 tokens")
                .hasMessageContaining("999");
        assertThatThrownBy(() -> PackedSequenceSampler.State.fromJson("{\"mode\":\"SIDEWAYS\"}"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("sampler state");
    }

    @Test
    void validationWindowsAreSequentialAndNonOverlapping() {
        TokenStream s = TokenStream.of(IntStream.range(0, 101).toArray());
        List<Batch> batches = new ArrayList<>();
        PackedSequenceSampler.validation(s, 4, 10).forEach(batches::add);
        assertThat(batches).extracting(Batch::batch).containsExactly(4, 4, 2);
        int expectedStart = 0;
        for (Batch b : batches) {
            assertWindows(b, true, 10);
            for (int r = 0; r < b.batch(); r++) {
                assertThat(b.input(r, 0)).isEqualTo(expectedStart);
                expectedStart += 10;
            }
        }
        assertThat(expectedStart).isEqualTo(100);
        assertThat(PackedSequenceSampler.validationWindows(101, 10)).isEqualTo(10);
        // iterable again from the start
        assertThat(PackedSequenceSampler.validation(s, 4, 10).iterator().next()).isEqualTo(batches.getFirst());
    }

    @Test
    void tooShortStreamsAndBadArgumentsAreRejected() {
        TokenStream tiny = TokenStream.of(new int[10]);
        assertThatThrownBy(() -> PackedSequenceSampler.random(tiny, 1, 10, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("10 tokens, fewer than one window of seqLen + 1 = 11");
        assertThatThrownBy(() -> PackedSequenceSampler.sequential(tiny, 2, 5))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("batch 2 x seqLen 5 x worldSize 1 + 1 = 11");
        assertThatThrownBy(() -> PackedSequenceSampler.create(IOTA, PackedSequenceSampler.Mode.RANDOM, 1, 4, 0, 2, 2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("rank=2, worldSize=2");
        assertThatThrownBy(() -> PackedSequenceSampler.validation(tiny, 1, 10))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new Batch(2, 3, new int[5], new int[6]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("needs 6 inputs");
    }
}
