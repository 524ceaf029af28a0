package fulgur.cuda.backend;

import static org.assertj.core.api.Assertions.assertThat;

import fulgur.ops.Views;
import fulgur.tensor.DType;
import fulgur.tensor.Scope;
import fulgur.tensor.Tensor;
import org.junit.jupiter.api.Test;

/** {@link Gpu#rowStride}: which views a row kernel may read where they lie (shapes and strides only, no GPU). */
class GpuRowStrideTest {

    @Test
    void contiguousRowsAreTheirWidthApart() {
        try (Scope s = Scope.open("t")) {
            assertThat(Gpu.rowStride(Tensor.zeros(DType.F32, 2, 3, 5))).isEqualTo(5);
            assertThat(Gpu.rowStride(Tensor.zeros(DType.F32, 7))).isEqualTo(7);
        }
    }

    @Test
    void aColumnSliceOfAWiderTensorHasTheWideRowStride() {
        try (Scope s = Scope.open("t")) {
            Tensor wide = Tensor.zeros(DType.BF16, 2, 9, 16);
            assertThat(Gpu.rowStride(Views.narrow(wide, -1, 12, 4))).isEqualTo(16);
            // a slice along the time axis of the slice keeps one stride between batches only if it is whole
            assertThat(Gpu.rowStride(Views.narrow(Views.narrow(wide, -1, 12, 4), 1, 0, 9)))
                    .isEqualTo(16);
            assertThat(Gpu.rowStride(Views.narrow(Views.narrow(wide, -1, 12, 4), 1, 2, 5)))
                    .isEqualTo(-1);
            // one batch entry of a time slice is one run of rows again
            assertThat(Gpu.rowStride(Views.narrow(Views.narrow(wide, 0, 1, 1), 1, 2, 5)))
                    .isEqualTo(16);
        }
    }

    @Test
    void aTransposedOrOverlappingLayoutHasNone() {
        try (Scope s = Scope.open("t")) {
            Tensor m = Tensor.zeros(DType.F32, 4, 6);
            assertThat(Gpu.rowStride(Views.transpose(m, 0, 1))).isEqualTo(-1);
            Tensor broadcastRows = Views.expand(Tensor.zeros(DType.F32, 1, 6), 4, 6);
            assertThat(Gpu.rowStride(broadcastRows)).isEqualTo(-1); // rows overlap (stride 0)
        }
    }
}
