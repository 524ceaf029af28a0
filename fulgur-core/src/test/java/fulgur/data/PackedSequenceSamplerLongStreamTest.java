package fulgur.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Windows of a stream longer than an int counts (token shards of any size): offsets stay longs end to end. */
class PackedSequenceSamplerLongStreamTest {
    /** 2³³ + 17 tokens, none stored: token i is i / 4, so a window's tokens tell where it starts (to within 4). */
    static final long SIZE = (1L << 33) + 17;

    static int token(long i) {
        return (int) (i >> 2);
    }

    static final TokenStream VIRTUAL = new TokenStream() {
        @Override
        public long size() {
            return SIZE;
        }

        @Override
        public int get(long index) {
            java.util.Objects.checkIndex(index, SIZE);
            return token(index);
        }
    };

    @Test
    void sequentialWindowsPastTwoToTheThirtyOneReadTheRightTokens() {
        int seqLen = 1 << 20;
        int world = 4096;
        int rank = world - 1; // its first window starts at (4095 · 2²⁰) ≈ 2³² tokens
        PackedSequenceSampler s =
                PackedSequenceSampler.create(VIRTUAL, PackedSequenceSampler.Mode.SEQUENTIAL, 1, seqLen, 0, rank, world);
        Batch b = s.next();
        long start = (long) rank * seqLen;
        assertThat(start).isGreaterThan(Integer.MAX_VALUE);
        for (int i : new int[] {0, 1, seqLen / 2, seqLen - 1}) {
            assertThat(b.input(0, i)).isEqualTo(token(start + i));
            assertThat(b.target(0, i)).isEqualTo(token(start + i + 1));
        }
    }

    @Test
    void randomWindowsReachTheWholeStream() {
        PackedSequenceSampler s = PackedSequenceSampler.random(VIRTUAL, 8, 8, 7);
        int past = 0;
        for (int step = 0; step < 4; step++) {
            Batch b = s.next();
            for (int r = 0; r < b.batch(); r++) {
                long start = 4L * b.input(r, 0); // within 3 of the window's start
                for (int i = 1; i < 8; i++) {
                    assertThat(b.input(r, i) - b.input(r, i - 1)).isBetween(0, 1);
                    assertThat(b.target(r, i - 1)).isEqualTo(b.input(r, i));
                }
                assertThat(4L * b.input(r, 7) - start).isBetween(4L, 8L);
                past += start > Integer.MAX_VALUE ? 1 : 0;
            }
        }
        assertThat(past)
                .as("windows starting past 2³¹ (three quarters of the stream)")
                .isGreaterThan(8);
    }

    @Test
    void aBatchAJavaArrayCannotHoldIsRefusedInOneLine() {
        assertThatThrownBy(() -> PackedSequenceSampler.random(VIRTUAL, 2, Integer.MAX_VALUE, 1))
                .hasMessageContaining("more than one batch holds")
                .hasMessageContaining("fewer sequences per batch");
    }
}
