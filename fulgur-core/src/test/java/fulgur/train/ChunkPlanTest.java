package fulgur.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Chunk boundaries in long arithmetic, up to the longest sequence a tensor dimension holds. */
class ChunkPlanTest {

    @Test
    void chunksOfTheLongestSequenceCoverItExactly() {
        long t = Integer.MAX_VALUE; // 2³¹ − 1 tokens
        ChunkPlan plan = new ChunkPlan(t, 16_384);
        assertThat(plan.count()).isEqualTo(131_072);
        int last = plan.count() - 1;
        assertThat(plan.start(last)).isEqualTo(131_071L * 16_384);
        assertThat(plan.start(last) + plan.length(last)).isEqualTo(t);
        assertThat(plan.length(last)).isEqualTo(16_383);
        assertThat(plan.length(last - 1)).isEqualTo(16_384);
        // a chunk as long as the sequence: one chunk
        ChunkPlan one = new ChunkPlan(t, Integer.MAX_VALUE);
        assertThat(one.count()).isEqualTo(1);
        assertThat(one.length(0)).isEqualTo(Integer.MAX_VALUE);
    }

    @Test
    void chunksThatDoNotDivideTheLengthEndShort() {
        ChunkPlan plan = new ChunkPlan(24, 7);
        assertThat(plan.count()).isEqualTo(4);
        assertThat(new int[] {plan.length(0), plan.length(1), plan.length(2), plan.length(3)})
                .containsExactly(7, 7, 7, 3);
        assertThat(plan.start(3)).isEqualTo(21);
    }

    @Test
    void badPlansAreRefused() {
        assertThatThrownBy(() -> new ChunkPlan(0, 4)).hasMessageContaining("at least one token");
        assertThatThrownBy(() -> new ChunkPlan(10, 0)).hasMessageContaining("chunk length must be >= 1");
        assertThatThrownBy(() -> new ChunkPlan(1L << 40, 1)).hasMessageContaining("chunks; use longer chunks");
        assertThatThrownBy(() -> new ChunkPlan(10, 4).start(3)).isInstanceOf(IndexOutOfBoundsException.class);
    }
}
