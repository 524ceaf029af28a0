package fulgur.dist.nccl;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import fulgur.dist.ReduceOp;
import fulgur.tensor.DType;
import org.junit.jupiter.api.Test;

/** What can be checked without a GPU; NcclCheck runs the rest on the GPU host. */
class NcclBindingsTest {
    @Test
    void libraryIsFoundOrItsAbsenceExplained() {
        if (Nccl.isAvailable()) {
            assertThat(Nccl.get().version()).isGreaterThanOrEqualTo(21800);
            return;
        }
        assertThatThrownBy(Nccl::get)
                .hasMessageContaining("cannot find NCCL (libnccl)")
                .hasMessageContaining("FULGUR_LIBNCCL");
    }

    @Test
    void datatypesAndOpsMapToNcclEnums() {
        assertThat(Nccl.dataType(DType.F32)).isEqualTo(7);
        assertThat(Nccl.dataType(DType.BF16)).isEqualTo(9);
        assertThat(Nccl.dataType(DType.I64)).isEqualTo(4);
        assertThat(Nccl.redOp(ReduceOp.SUM)).isZero();
        assertThat(Nccl.redOp(ReduceOp.AVG)).isEqualTo(4);
        assertThat(Nccl.redOp(ReduceOp.MAX)).isEqualTo(2);
        assertThat(new NcclException("ncclAllReduce", 5, "text"))
                .hasMessage("ncclAllReduce failed: ncclInvalidUsage (5): text");
    }
}
