package fulgur.cuda.backend;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** Which strided device copies take the 16-byte row kernel (decided on the host; the copies themselves are GPU-tested). */
class CudaCopyRowsTest {
    /** dst = columns [c0, c0 + cols) of a [rows, 4·cols] matrix, src a contiguous [rows, cols] one. */
    private static Desc slice(int rows, int cols, int width) {
        return Desc.of("copy", new int[] {rows, cols}, new long[] {width, 1}, new long[] {cols, 1});
    }

    @Test
    void columnSlicesOfWholeChunksTakeTheRowKernel() {
        // bf16 rows of 1024 into a 4096-wide gradient (a qkvu slice), f32 rows of 8
        assertThat(CudaCopy.rowsOf16(slice(16, 1024, 4096), 2, 0x1000, 0x2000 + 2048))
                .isTrue();
        assertThat(CudaCopy.rowsOf16(slice(3, 8, 24), 4, 0x1000, 0x2000)).isTrue();
    }

    @Test
    void partialChunksMisalignedBasesAndOtherShapesDoNot() {
        assertThat(CudaCopy.rowsOf16(slice(16, 1020, 4096), 2, 0x1000, 0x2000)).isFalse(); // 2040-byte rows
        assertThat(CudaCopy.rowsOf16(slice(16, 1024, 4100), 2, 0x1000, 0x2000)).isFalse(); // row stride 8200 bytes
        assertThat(CudaCopy.rowsOf16(slice(16, 1024, 4096), 2, 0x1000, 0x2000 + 6))
                .isFalse(); // base off 16 bytes
        // a transpose (inner stride not 1) and a 3-D space that does not merge
        assertThat(CudaCopy.rowsOf16(Desc.of("copy", new int[] {8, 8}, new long[] {8, 1}, new long[] {1, 8}), 4, 0, 0))
                .isFalse();
        Desc threeD = Desc.of("copy", new int[] {2, 8, 8}, new long[] {256, 16, 1}, new long[] {64, 8, 1});
        assertThat(threeD.ndim()).isEqualTo(3);
        assertThat(CudaCopy.rowsOf16(threeD, 4, 0, 0)).isFalse();
    }
}
