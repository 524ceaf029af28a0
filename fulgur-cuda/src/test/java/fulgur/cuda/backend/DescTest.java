package fulgur.cuda.backend;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class DescTest {
    @Test
    void mergesContiguousDimsAndDropsOnes() {
        Desc d = Desc.of("t", new int[] {2, 3, 1, 4}, new long[] {12, 4, 4, 1}, new long[] {12, 4, 99, 1});
        assertThat(d.ndim()).isEqualTo(1);
        assertThat(d.size(0)).isEqualTo(24);
        assertThat(d.stride(1, 0)).isEqualTo(1);
    }

    @Test
    void keepsBroadcastAndTransposedDims() {
        // a [3, 4] broadcast along rows (stride 0) against a transposed b
        Desc d = Desc.of("t", new int[] {3, 4}, new long[] {0, 1}, new long[] {1, 3});
        assertThat(d.ndim()).isEqualTo(2);
        assertThat(d.stride(0, 0)).isEqualTo(0);
        assertThat(d.stride(1, 1)).isEqualTo(3);
        byte[] b = d.struct().bytes();
        assertThat(b).hasSize(392);
        assertThat(java.nio.ByteBuffer.wrap(b)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .getInt(0))
                .isEqualTo(2);
        assertThat(java.nio.ByteBuffer.wrap(b)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .getLong(8 + 8))
                .isEqualTo(4);
        assertThat(java.nio.ByteBuffer.wrap(b)
                        .order(java.nio.ByteOrder.LITTLE_ENDIAN)
                        .getLong(8 + 96 + 8 * (12 + 1)))
                .isEqualTo(3);
    }

    @Test
    void scalarsBecomeOneElement() {
        Desc d = Desc.of("t", new int[0], new long[0]);
        assertThat(d.ndim()).isEqualTo(1);
        assertThat(d.size(0)).isEqualTo(1);
    }
}
